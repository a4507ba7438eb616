package s6

import "testing"

func TestSvscanMax(t *testing.T) {
	tests := []struct {
		argv []string
		want int
		ok   bool
	}{
		{[]string{"s6-svscan", "/run/service"}, 0, false},
		{[]string{"s6-svscan", "-c", "10", "/run/service"}, 10, true},
		{[]string{"s6-svscan", "-c10", "scan"}, 10, true},
		{[]string{"/package/admin/s6/command/s6-svscan", "-d4", "-c", "4096", "--", "/run/service"}, 4096, true},
		{[]string{"s6-svscan", "-t5000", "-c", "7", "scan"}, 7, true},
		{[]string{"s6-svscan", "--", "-c", "7"}, 0, false},
		{[]string{"s6-svscan", "scan", "-c", "7"}, 0, false},
		{[]string{"s6-svscan", "-c", "x", "scan"}, 0, false},
	}
	for _, tt := range tests {
		got, ok := svscanMax(tt.argv)
		if got != tt.want || ok != tt.ok {
			t.Errorf("svscanMax(%q) = %d, %v; want %d, %v", tt.argv, got, ok, tt.want, tt.ok)
		}
	}
}
