// Built into FerretDB v1's SQLite backend by scripts/stack.sh (package sqlite).

package sqlite

import (
	"fmt"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// idPushdown narrows a query to the rows the filter's `_id` condition allows, as an index
// seek on the `_id` index: an equality, or the prefix a string range's bounds share.
//
// What it selects is a superset of the matches (the handler applies the whole filter to
// every row it gets back), so it may ignore any condition it does not understand:
//   - the filter's other keys are ANDed with `_id`, so a row that fails `_id` fails them all;
//   - a string is stored as its JSON text, `"` and the string, escaped. Characters from
//     '#' to '~' other than `\`, `<`, `>` and `&` are written as themselves, so when a
//     prefix is made of them, the JSON texts of the strings starting with it are exactly
//     the texts from `"prefix` up to (excluded) `"prefix` with its last byte raised by one.
func idPushdown(filter *types.Document) (string, []any) {
	if filter == nil {
		return "", nil
	}

	value, _ := filter.Get("_id")

	switch value := value.(type) {
	case string, types.ObjectID:
		return fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn),
			[]any{string(must.NotFail(sjson.MarshalSingleValue(value)))}

	case *types.Document:
		prefix := boundsPrefix(value)
		if prefix == "" {
			return "", nil
		}

		end := prefix[:len(prefix)-1] + string(prefix[len(prefix)-1]+1)

		return fmt.Sprintf(` WHERE %[1]s >= ? AND %[1]s < ?`, metadata.IDColumn),
			[]any{`"` + prefix, `"` + end}
	}

	return "", nil
}

// boundsPrefix is the longest prefix of plain characters that every string satisfying a
// range with both a lower and an upper string bound starts with; "" when there is none.
func boundsPrefix(operators *types.Document) string {
	var lower, upper []string

	for _, key := range operators.Keys() {
		bound, ok := must.NotFail(operators.Get(key)).(string)
		if !ok {
			continue
		}

		switch key {
		case "$gt", "$gte":
			lower = append(lower, bound)
		case "$lt", "$lte":
			upper = append(upper, bound)
		}
	}

	if len(lower) == 0 || len(upper) == 0 {
		return ""
	}

	// The strings between a lower bound l and an upper bound u all start with the prefix
	// l and u share.
	prefix := lower[0]
	for _, bound := range append(lower[1:], upper...) {
		prefix = sharedPrefix(prefix, bound)
	}

	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; c < '#' || c > '~' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return prefix[:i]
		}
	}

	return prefix
}

func sharedPrefix(a, b string) string {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return a[:i]
		}
	}

	return a[:n]
}
