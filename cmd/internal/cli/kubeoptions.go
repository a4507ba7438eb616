package cli

import "time"

// KubeOptions are the settings of the Kubernetes engine.
type KubeOptions struct {
	Namespace, Kubeconfig string
	Image, Claim, Mount   string
	LeaderElect           bool
	MetricsAddr           string
	HealthAddr            string
	Poll                  time.Duration
	// Requests and Limits are the gateway container's resources, as
	// "cpu=100m,memory=256Mi".
	Requests, Limits string
}

// BackendKube is --backend kube.
const BackendKube = "kube"
