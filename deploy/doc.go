// Package deploy holds no code of qredge: it is the test suite of the
// deployment files beside it (the Dockerfile at the repository root,
// kubernetes/ and compose/). The tests render the kustomize overlays in
// process, decode every object strictly into its Kubernetes API type and
// check what a cluster would only find out at run time: probes on the real
// admin ports, environment variables that are real flags, selectors that
// select, a static binary built by the same command as the image.
//
// It is a module of its own so that the Kubernetes and kustomize
// dependencies never reach the qredge binary's go.mod. It must never be
// imported.
package deploy
