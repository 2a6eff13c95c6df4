// kstatus prints what sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute (the library behind Flux's
// health checks and `kustomize-controller`'s wait) says about Kubernetes objects, one JSON line each:
//
//	{"apiVersion":"ocids.io/v1alpha1","kind":"TrainingJob","namespace":"ml","name":"logreg",
//	 "status":"Current","message":"Resource is Ready"}
//
// Objects come from stdin (JSON or YAML: one object, several documents, or a List) or, with
// --kubeconfig, from the API server as kind/namespace/name (kind as kubectl accepts it:
// trainingjob, tj, trainingjobs.ocids.io; cluster-scoped objects as kind/name).
//
// Exit status: 0 when every object was computed (whatever its status), 1 on a read or compute
// error, 2 on bad usage. --expect STATUS makes it exit 3 when any object's status differs.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type result struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	Status     string `json:"status"`
	Message    string `json:"message"`
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "read the named objects from this cluster instead of stdin")
	expect := flag.String("expect", "", "exit 3 unless every object has this status (Current, InProgress, ...)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: kstatus [--expect STATUS] < objects.{json,yaml}\n"+
			"       kstatus --kubeconfig FILE [--expect STATUS] kind/namespace/name ...\n")
		flag.PrintDefaults()
	}
	flag.Parse()

	var objects []*unstructured.Unstructured
	var err error
	switch {
	case *kubeconfig != "" && flag.NArg() > 0:
		objects, err = fromCluster(*kubeconfig, flag.Args())
	case *kubeconfig == "" && flag.NArg() == 0:
		objects, err = fromReader(os.Stdin)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}

	out := json.NewEncoder(os.Stdout)
	mismatch := false
	for _, obj := range objects {
		res, err := status.Compute(obj)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kstatus: %s %s/%s: %v\n", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
			os.Exit(1)
		}
		r := result{
			APIVersion: obj.GetAPIVersion(), Kind: obj.GetKind(), Namespace: obj.GetNamespace(),
			Name: obj.GetName(), Status: res.Status.String(), Message: res.Message,
		}
		if err := out.Encode(r); err != nil {
			fmt.Fprintln(os.Stderr, "kstatus:", err)
			os.Exit(1)
		}
		if *expect != "" && r.Status != *expect {
			mismatch = true
		}
	}
	if mismatch {
		os.Exit(3)
	}
}

// fromReader decodes a YAML or JSON stream; a List is flattened into its items.
func fromReader(r io.Reader) ([]*unstructured.Unstructured, error) {
	decoder := utilyaml.NewYAMLOrJSONDecoder(bufio.NewReader(r), 4096)
	var objects []*unstructured.Unstructured
	for {
		// Raw JSON, then unstructured's own decoder: numbers stay int64, as kstatus reads them.
		var raw json.RawMessage
		if err := decoder.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("decoding stdin: %w", err)
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("decoding stdin: %w", err)
		}
		if obj.IsList() {
			list, err := obj.ToList()
			if err != nil {
				return nil, err
			}
			for i := range list.Items {
				objects = append(objects, &list.Items[i])
			}
			continue
		}
		objects = append(objects, obj)
	}
	if len(objects) == 0 {
		return nil, errors.New("no objects on stdin")
	}
	return objects, nil
}

// fromCluster gets each kind/namespace/name, resolving the kind through discovery as kubectl does.
func fromCluster(kubeconfig string, refs []string) ([]*unstructured.Unstructured, error) {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	disco, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return nil, err
	}
	cached := memory.NewMemCacheClient(disco)
	mapper := restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(cached), cached, nil)
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	var objects []*unstructured.Unstructured
	for _, ref := range refs {
		parts := strings.Split(ref, "/")
		if len(parts) < 2 || len(parts) > 3 {
			return nil, fmt.Errorf("%q: want kind/namespace/name or kind/name", ref)
		}
		gvr, err := mapper.ResourceFor(schema.ParseGroupResource(parts[0]).WithVersion(""))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", ref, err)
		}
		var obj *unstructured.Unstructured
		if len(parts) == 3 {
			obj, err = client.Resource(gvr).Namespace(parts[1]).Get(context.Background(), parts[2], metav1.GetOptions{})
		} else {
			obj, err = client.Resource(gvr).Get(context.Background(), parts[1], metav1.GetOptions{})
		}
		if err != nil {
			return nil, fmt.Errorf("%q: %w", ref, err)
		}
		objects = append(objects, obj)
	}
	return objects, nil
}
