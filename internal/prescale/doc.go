// Package prescale holds the edge HorizontalPodAutoscalers' floor up
// around drops. A drop is an enabled link's schedule not_before, the
// moment a QR code goes live on TV or in print; from Config.LeadTime
// before it until Config.Hold after it the HPAs' minReplicas is held at
// least at Config.Replicas, the normal minimum recorded in an annotation
// on the HPA, and restored once no drop's window is open.
//
// A run is: LoadDrops from the link store, WindowAt the present moment,
// PrintDrops, then Reconcile each HPA: read it, Plan its next state, and
// (with Config.Apply) write it with one JSON merge patch that carries the
// resourceVersion it read, planning again on a conflict. Plan is a pure
// function: running every few minutes converges, and a run in an unchanged
// state changes nothing.
//
// The package reads the Kubernetes API only through HPAClient, an
// interface of plain Go types. It must never import k8s.io: client-go and
// the API types would be linked into every binary that imports it. The
// Kubernetes client lives in cmd/qredge-prescale. prescale never changes
// maxReplicas, never lowers a floor someone set higher, and without
// Config.Apply it changes nothing.
package prescale
