package sdk

import (
	"time"

	"github.com/locksmithx/locksmith/sdk/internal/pb"
)

func entryToPB(e Entry) *pb.Entry {
	return &pb.Entry{Key: e.Key, Value: e.Value, Session: e.Session, CreateRev: e.CreateRev, ModRev: e.ModRev}
}

func entryFromPB(e *pb.Entry) Entry {
	if e == nil {
		return Entry{}
	}
	return Entry{Key: e.Key, Value: e.Value, Session: e.Session, CreateRev: e.CreateRev, ModRev: e.ModRev}
}

func entriesToPB(es []Entry) []*pb.Entry {
	if es == nil {
		return nil
	}
	out := make([]*pb.Entry, len(es))
	for i, e := range es {
		out[i] = entryToPB(e)
	}
	return out
}

func entriesFromPB(es []*pb.Entry) []Entry {
	if es == nil {
		return nil
	}
	out := make([]Entry, len(es))
	for i, e := range es {
		out[i] = entryFromPB(e)
	}
	return out
}

func problemsToPB(ps []Problem) []*pb.Problem {
	out := make([]*pb.Problem, len(ps))
	for i, p := range ps {
		out[i] = &pb.Problem{Resource: p.Resource, Path: p.Path, Message: p.Message, Repaired: p.Repaired}
	}
	return out
}

func problemsFromPB(ps []*pb.Problem) []Problem {
	out := make([]Problem, len(ps))
	for i, p := range ps {
		out[i] = Problem{Resource: p.Resource, Path: p.Path, Message: p.Message, Repaired: p.Repaired}
	}
	return out
}

func infoToPB(i PluginInfo) *pb.InfoResponse {
	return &pb.InfoResponse{Name: i.Name, Version: i.Version, Kind: string(i.Kind),
		Capabilities: i.Capabilities, ConfigSchema: i.ConfigSchema, Warnings: i.Warnings, Points: i.Points}
}

func infoFromPB(i *pb.InfoResponse) PluginInfo {
	return PluginInfo{Name: i.Name, Version: i.Version, Kind: Kind(i.Kind),
		Capabilities: i.Capabilities, ConfigSchema: i.ConfigSchema, Warnings: i.Warnings, Points: i.Points}
}

func ms(d time.Duration) int64     { return d.Milliseconds() }
func fromMS(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
