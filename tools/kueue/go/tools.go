//go:build tools

// Package tools pins Kueue's manager (cmd/kueue) as a dependency of this wrapper module, so
// `go build sigs.k8s.io/kueue/cmd/kueue` resolves it through the module proxy at the version
// go.mod requires (which also names the cache folder).
package tools

import _ "sigs.k8s.io/kueue/cmd/kueue"
