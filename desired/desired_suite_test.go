package desired_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestDesired(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "desired")
}
