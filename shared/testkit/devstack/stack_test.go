package devstack

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/timebridge/timebridge/shared/testkit/kumotest"
)

// TestTableFromAnOlderTemplate: a table kept from an earlier make dev that
// lacks an index the template now declares stops the stack with the fix,
// instead of failing later on the first query of that index.
func TestTableFromAnOlderTemplate(t *testing.T) {
	kumotest.KumoOnly(t)
	env := kumotest.Start(t)
	tm, err := ParseTemplate(filepath.Join("..", "..", "..", "template.yaml"), stackName, region, account)
	if err != nil {
		t.Fatal(err)
	}
	current := tm.Tables[0]
	if len(current.Indexes) < 2 {
		t.Fatalf("the template's table has %d indexes; this test needs two", len(current.Indexes))
	}
	current.Name = kumotest.UniqueName(t)
	older := current
	older.Indexes = current.Indexes[:1]
	ctx := context.Background()
	if err := (&Stack{Template: &Template{Tables: []Table{older}}}).createTables(ctx, env.DynamoDB); err != nil {
		t.Fatal(err)
	}
	err = (&Stack{Template: &Template{Tables: []Table{current}}}).createTables(ctx, env.DynamoDB)
	if err == nil || !strings.Contains(err.Error(), "make dev-reset") || !strings.Contains(err.Error(), current.Indexes[1].Name) {
		t.Fatalf("older table: %v", err)
	}
	// The same template again is fine.
	if err := (&Stack{Template: &Template{Tables: []Table{older}}}).createTables(ctx, env.DynamoDB); err != nil {
		t.Fatalf("unchanged template: %v", err)
	}
}
