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
	// requests and limits are the gateway container's resources, as
	// "cpu=100m,memory=256Mi".
	requests, limits string
}

// backendKube is --backend kube.
const backendKube = "kube"
