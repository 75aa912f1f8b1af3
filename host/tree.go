package host

import (
	"context"
	"sort"
	"strings"

	"github.com/locksmithx/locksmith/sdk"
)

// TreeNode is one level of the lock tree: a path segment, the queue of the
// resource at that path if it has one, and the levels below it.
type TreeNode struct {
	Name     string          `json:"name"`
	Path     string          `json:"path"`
	Status   *ResourceStatus `json:"status,omitempty"`
	Children []*TreeNode     `json:"children,omitempty"`

	index map[string]*TreeNode // Children by name, while the tree is built
}

// Tree reads every resource the backend can list (named locks, and file
// locks it knows of) and arranges them by their "/"-separated parts: the
// hierarchy of hierarchical locks, the directories of file locks. Each
// resource shows its holders and waiters. Resources with an empty queue
// are left out.
func (h *Host) Tree(ctx context.Context) (*TreeNode, error) {
	sts, err := h.statuses(ctx)
	if err != nil {
		return nil, err
	}
	sort.Slice(sts, func(i, j int) bool { return sts[i].Resource < sts[j].Resource })
	root := &TreeNode{Name: "", Path: ""}
	for _, st := range sts {
		if len(st.Holders)+len(st.Waiters) == 0 {
			continue
		}
		name := st.Resource
		node := root
		prefix := ""
		if strings.HasPrefix(name, "/") {
			prefix = "/"
		}
		for i, part := range strings.Split(strings.TrimPrefix(name, "/"), "/") {
			if i > 0 {
				prefix += "/"
			}
			prefix += part
			node = node.child(part, prefix)
		}
		node.Status = &st
	}
	return root, nil
}

// statuses reads the status of every resource the backend lists, in one
// call to the plugin (sdk.RangeResources). With middleware in the chain,
// each resource goes through Status, so that the chain sees every read.
func (h *Host) statuses(ctx context.Context) ([]ResourceStatus, error) {
	slot, err := h.slotFor(ctx)
	if err != nil {
		return nil, err
	}
	g, err := slot.sup.get(ctx)
	if err != nil {
		return nil, err
	}
	if !h.chainNow().empty() {
		names, err := g.backend.Resources(ctx, "")
		if err != nil {
			return nil, backendErr("list resources", err)
		}
		out := make([]ResourceStatus, 0, len(names))
		for _, name := range names {
			st, err := h.Status(ctx, name)
			if err != nil {
				return nil, err
			}
			out = append(out, st)
		}
		return out, nil
	}
	rs, err := sdk.RangeResources(ctx, g.backend, "")
	if err != nil {
		return nil, backendErr("read resources", err)
	}
	out := make([]ResourceStatus, len(rs))
	for i, r := range rs {
		out[i] = statusOf(slot.name, r.Resource, r.RangeResult)
	}
	return out, nil
}

func (n *TreeNode) child(name, path string) *TreeNode {
	if c := n.index[name]; c != nil {
		return c
	}
	c := &TreeNode{Name: name, Path: path}
	n.Children = append(n.Children, c)
	if n.index == nil {
		n.index = map[string]*TreeNode{}
	}
	n.index[name] = c
	return c
}
