package verifier_test

import "github.com/agentid/agentid/verifier"

// threadCPU: see the verifier package's threadcpu_linux_test.go.
var threadCPU = verifier.ThreadCPU
