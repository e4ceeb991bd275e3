package voicectl

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// maxNameLength bounds a file or directory name given in a request.
const maxNameLength = 512

// checkRelative refuses a name that is not a plain relative path staying inside its directory:
// empty, absolute, with "..", a backslash or a NUL, or too long. Symbolic links that lead out
// are refused later, by os.Root.
func checkRelative(name, what string) *Error {
	switch {
	case name == "":
		return newError(http.StatusBadRequest, CodeBadPath, "%s is required", what)
	case len(name) > maxNameLength:
		return newError(http.StatusBadRequest, CodeBadPath, "%s is longer than %d bytes", what, maxNameLength)
	case strings.ContainsAny(name, "\\\x00"):
		return newError(http.StatusBadRequest, CodeBadPath, "%s %q must use / and hold no NUL", what, name)
	case !filepath.IsLocal(name):
		return newError(http.StatusBadRequest, CodeBadPath, "%s %q must be a relative path inside its directory (no leading /, no ..)", what, name)
	}
	return nil
}

// rootError maps an error of an os.Root operation on name. Errors that do not come from the
// operating system are os.Root's refusal to follow name out of its directory.
func rootError(err error, name, dirWhat string) *Error {
	var errno syscall.Errno
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return newError(http.StatusNotFound, CodeFileNotFound, "%s does not exist in the %s", name, dirWhat)
	case errors.Is(err, fs.ErrExist):
		return conflict(CodeRecordingExists, "%s exists already in the %s; recordings never overwrite: choose another name", name, dirWhat)
	case !errors.As(err, &errno):
		return newError(http.StatusBadRequest, CodeBadPath, "%s leads out of the %s", name, dirWhat)
	}
	return newError(http.StatusInternalServerError, CodeInternal, "%s in the %s: %v", name, dirWhat, errno)
}

// openMediaFile opens name, a regular file under dir, for reading.
func openMediaFile(dir, name string) (*os.File, *Error) {
	if err := checkRelative(name, "file"); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, newError(http.StatusInternalServerError, CodeInternal, "opening the media directory: %v", err)
	}
	defer root.Close()
	f, err := root.Open(filepath.Clean(name))
	if err != nil {
		return nil, rootError(err, name, "media directory")
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, newError(http.StatusUnprocessableEntity, CodeBadMedia, "%s is not a regular file", name)
	}
	return f, nil
}

// makeRecordingDir creates name, a new directory under dir (with its parents), and returns its
// path. An existing name is refused: a recording never mixes with or overwrites another.
func makeRecordingDir(dir, name string) (string, *Error) {
	if err := checkRelative(name, "dir"); err != nil {
		return "", err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", newError(http.StatusInternalServerError, CodeInternal, "opening the recordings directory: %v", err)
	}
	defer root.Close()
	clean := filepath.Clean(name)
	if parent := filepath.Dir(clean); parent != "." {
		if err := root.MkdirAll(parent, 0o750); err != nil {
			return "", rootError(err, name, "recordings directory")
		}
	}
	if err := root.Mkdir(clean, 0o750); err != nil {
		return "", rootError(err, name, "recordings directory")
	}
	return filepath.Join(dir, clean), nil
}
