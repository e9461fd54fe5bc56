package observetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// metricNames returns the metric names a PromQL expression reads, by a
// small tokenizer rather than Prometheus's parser (a large dependency for
// this): strings, label matchers {…}, range and subquery brackets […] and
// the label lists of by/without/on/ignoring/group_left/group_right are
// skipped; an identifier followed by "(" must be a known function or
// aggregation; every other identifier that is not a keyword is a metric
// name. It fails on unbalanced brackets, unterminated strings and
// characters PromQL does not use.
func metricNames(expr string) ([]string, error) {
	var names []string
	var stack []rune
	rs := []rune(expr)
	for i := 0; i < len(rs); {
		c := rs[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(rs, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '#':
			for i < len(rs) && rs[i] != '\n' {
				i++
			}
		case c == '{' || c == '[':
			end, err := skipGroup(rs, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '(':
			stack = append(stack, c)
			i++
		case c == ')':
			if len(stack) == 0 {
				return nil, fmt.Errorf("unbalanced ) at %d", i)
			}
			stack = stack[:len(stack)-1]
			i++
		case c == '}' || c == ']':
			return nil, fmt.Errorf("unbalanced %c at %d", c, i)
		case isIdentStart(c):
			j := i
			for j < len(rs) && isIdentPart(rs[j]) {
				j++
			}
			word := string(rs[i:j])
			next := nextNonSpace(rs, j)
			switch {
			case labelListKeywords[word]:
				if next < len(rs) && rs[next] == '(' {
					end, err := skipGroup(rs, next)
					if err != nil {
						return nil, err
					}
					j = end
				}
			case functions[word] && startsLabelList(rs, next):
				// sum by (le) (…): the aggregation's clause comes first.
			case next < len(rs) && rs[next] == '(':
				if !functions[word] {
					return nil, fmt.Errorf("unknown function %q", word)
				}
			case keywords[word]:
			default:
				if !slices.Contains(names, word) {
					names = append(names, word)
				}
			}
			i = j
		case unicode.IsDigit(c) || c == '.':
			// A number, hex number or duration (5m, 1h30m): digits and
			// letters; a sign only right after an exponent's e.
			for i < len(rs) && (isIdentPart(rs[i]) || rs[i] == '.' ||
				((rs[i] == '+' || rs[i] == '-') && (rs[i-1] == 'e' || rs[i-1] == 'E'))) {
				i++
			}
		case strings.ContainsRune("+-*/%^=!<>,:@", c):
			i++
		default:
			return nil, fmt.Errorf("unexpected %q at %d", c, i)
		}
	}
	if len(stack) > 0 {
		return nil, fmt.Errorf("%d unclosed (", len(stack))
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no metric in %q", expr)
	}
	return names, nil
}

// skipString returns the index after the string starting at i.
func skipString(rs []rune, i int) (int, error) {
	q := rs[i]
	for j := i + 1; j < len(rs); j++ {
		if rs[j] == '\\' && q != '`' {
			j++
			continue
		}
		if rs[j] == q {
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string at %d", i)
}

// skipGroup returns the index after the bracketed group opening at i
// ({…}, […] or (…)), strings inside included.
func skipGroup(rs []rune, i int) (int, error) {
	closing := map[rune]rune{'{': '}', '[': ']', '(': ')'}
	var stack []rune
	for j := i; j < len(rs); j++ {
		switch c := rs[j]; {
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(rs, j)
			if err != nil {
				return 0, err
			}
			j = end - 1
		case closing[c] != 0:
			stack = append(stack, closing[c])
		case c == '}' || c == ']' || c == ')':
			if len(stack) == 0 || stack[len(stack)-1] != c {
				return 0, fmt.Errorf("unbalanced %c at %d", c, j)
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return j + 1, nil
			}
		}
	}
	return 0, fmt.Errorf("unclosed %c at %d", rs[i], i)
}

// startsLabelList reports whether rs[i:] starts with by, without, … .
func startsLabelList(rs []rune, i int) bool {
	j := i
	for j < len(rs) && isIdentPart(rs[j]) {
		j++
	}
	return labelListKeywords[string(rs[i:j])]
}

func nextNonSpace(rs []rune, i int) int {
	for i < len(rs) && unicode.IsSpace(rs[i]) {
		i++
	}
	return i
}

func isIdentStart(c rune) bool { return c == '_' || c == ':' || unicode.IsLetter(c) }
func isIdentPart(c rune) bool  { return isIdentStart(c) || unicode.IsDigit(c) }

var labelListKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

var keywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "Inf": true, "inf": true, "NaN": true, "nan": true}

// functions are PromQL's aggregations and the functions these files may
// use; one missing here fails the test, which is the point: a misspelt
// function is caught.
var functions = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "count": true, "topk": true, "bottomk": true, "quantile": true, "stddev": true, "group": true,
	"rate": true, "irate": true, "increase": true, "delta": true, "deriv": true, "histogram_quantile": true, "absent": true, "absent_over_time": true,
	"max_over_time": true, "min_over_time": true, "avg_over_time": true, "sum_over_time": true, "changes": true, "resets": true,
	"clamp_min": true, "clamp_max": true, "abs": true, "round": true, "time": true, "vector": true, "scalar": true, "label_replace": true,
}

func TestMetricNames(t *testing.T) {
	got, err := metricNames(`histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="}y", le!~"1|2"}[5m]))) > 2 * max(b) unless on (instance) c offset 5m`)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a_bucket", "b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("names %v, want %v", got, want)
	}
	for _, bad := range []string{`sum(rate(a[5m])`, `rate(a{x="y"[5m])`, `summ(a)`, `a{x="y}`, `1 + 2`, `a $ b`} {
		if n, err := metricNames(bad); err == nil {
			t.Errorf("%q parsed: %v", bad, n)
		}
	}
}
