package cli

// BackendKube is --backend kube.
const BackendKube = "kube"
