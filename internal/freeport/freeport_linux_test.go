package freeport

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// Two processes picking ports at once (two test packages of a suite) never get the same one, and a
// process's ports are free to pick again once it has exited.
func TestPickNeverGivesTwoProcessesOnePort(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), childEnv+"="+strconv.Itoa(locked))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	theirs := map[int]bool{}
	lines := bufio.NewScanner(stdout)
	for n := 0; n < locked && lines.Scan(); n++ {
		port, err := strconv.Atoi(lines.Text())
		if err != nil {
			t.Fatalf("the other process wrote %q", lines.Text())
		}
		theirs[port] = true
	}
	if err := lines.Err(); err != nil || len(theirs) == 0 {
		t.Fatalf("the other process picked %d ports: %v", len(theirs), err)
	}
	pickAvoiding(t, 1000, theirs)
	stdin.Close() // the other process exits
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	for port := range theirs {
		lock, ok := lockAcrossProcesses(port)
		if !ok {
			t.Fatalf("port %d is still locked after its process exited", port)
		}
		lock.Close()
	}
}

// childEnv makes the test binary a process that picks that many ports, writes them, and holds them
// until its standard input closes.
const childEnv = "FREEPORT_TEST_CHILD"

func TestMain(m *testing.M) {
	if n, err := strconv.Atoi(os.Getenv(childEnv)); err == nil {
		for range n {
			port, err := Pick()
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			fmt.Println(port)
		}
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}
