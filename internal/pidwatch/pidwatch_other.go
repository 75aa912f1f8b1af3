//go:build !linux

package pidwatch

func start(int) (*Watch, error) { return nil, ErrUnsupported }
