//go:build !unix

package s6

import (
	"errors"
	"io/fs"
)

// stageDir: s6 runs on Unix only; see sys_other.go.
type stageDir struct{}

func openStageDir(string, int, int) (*stageDir, error)         { return nil, errors.ErrUnsupported }
func (*stageDir) Close() error                                 { return nil }
func (*stageDir) Mkdir(string, fs.FileMode) (*stageDir, error) { return nil, errors.ErrUnsupported }
func (*stageDir) Create(string, []byte, fs.FileMode) error     { return errors.ErrUnsupported }
func (*stageDir) Mkfifo(string, fs.FileMode) error             { return errors.ErrUnsupported }
func (*stageDir) Publish(string, string) error                 { return errors.ErrUnsupported }
