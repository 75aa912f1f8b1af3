package sdk

import (
	"encoding/json"
	"fmt"
)

// EditStatusMeta rewrites the metadata of every request in a status
// answer (the JSON a host's status read returns: an object whose
// "holders" and "waiters" are lists of requests, each with its metadata
// under "meta") with edit, and returns the new answer. Every other field
// is kept as it was. edit gets each request's metadata (nil when it has
// none) and returns what replaces it; its first error stops the edit.
func EditStatusMeta(answer []byte, edit func(meta map[string]string) (map[string]string, error)) ([]byte, error) {
	var st map[string]json.RawMessage
	if err := json.Unmarshal(answer, &st); err != nil {
		return nil, fmt.Errorf("decode status answer: %w", err)
	}
	for _, list := range []string{"holders", "waiters"} {
		raw, ok := st[list]
		if !ok || string(raw) == "null" {
			continue
		}
		var reqs []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &reqs); err != nil {
			return nil, fmt.Errorf("decode status answer: %s: %w", list, err)
		}
		for _, r := range reqs {
			var meta map[string]string
			if m, ok := r["meta"]; ok {
				if err := json.Unmarshal(m, &meta); err != nil {
					return nil, fmt.Errorf("decode status answer: %s meta: %w", list, err)
				}
			}
			out, err := edit(meta)
			if err != nil {
				return nil, err
			}
			if len(out) == 0 {
				delete(r, "meta")
				continue
			}
			enc, err := json.Marshal(out)
			if err != nil {
				return nil, err
			}
			r["meta"] = enc
		}
		enc, err := json.Marshal(reqs)
		if err != nil {
			return nil, err
		}
		st[list] = enc
	}
	return json.Marshal(st)
}
