package main

import "time"

// kubeOptions are the settings of --backend kube.
type kubeOptions struct {
	namespace, kubeconfig string
	image, claim, mount   string
	leaderElect           bool
	metricsAddr           string
	healthAddr            string
	poll                  time.Duration
}

// backendKube is --backend kube.
const backendKube = "kube"
