package verifier

// ThreadCPU is threadCPU for the benchmarks of package verifier_test
// (this file is compiled only with the tests).
var ThreadCPU = threadCPU
