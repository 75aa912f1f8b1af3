package host

import (
	"context"
	"sort"
	"strings"
)

// TreeNode is one level of the lock tree: a path segment, the queue of the
// resource at that path if it has one, and the levels below it.
type TreeNode struct {
	Name     string          `json:"name"`
	Path     string          `json:"path"`
	Status   *ResourceStatus `json:"status,omitempty"`
	Children []*TreeNode     `json:"children,omitempty"`
}

// Tree reads every resource the backend can list (named locks, and file
// locks it knows of) and arranges them by their "/"-separated parts: the
// hierarchy of hierarchical locks, the directories of file locks. Each
// resource shows its holders and waiters. Resources with an empty queue
// are left out.
func (h *Host) Tree(ctx context.Context) (*TreeNode, error) {
	g, err := h.generationFor(ctx)
	if err != nil {
		return nil, err
	}
	names, err := g.backend.Resources(ctx, "")
	if err != nil {
		return nil, backendErr("list resources", err)
	}
	sort.Strings(names)
	root := &TreeNode{Name: "", Path: ""}
	for _, name := range names {
		st, err := h.Status(ctx, name)
		if err != nil {
			return nil, err
		}
		if len(st.Holders)+len(st.Waiters) == 0 {
			continue
		}
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

func (n *TreeNode) child(name, path string) *TreeNode {
	for _, c := range n.Children {
		if c.Name == name {
			return c
		}
	}
	c := &TreeNode{Name: name, Path: path}
	n.Children = append(n.Children, c)
	return c
}
