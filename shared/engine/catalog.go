package engine

import (
	"github.com/timebridge/timebridge/shared/engine/plan"
	"github.com/timebridge/timebridge/shared/kimai"
)

// Conversions from the Kimai client's catalog types to the engine's.

func customerFrom(c kimai.Customer) plan.Customer {
	return plan.Customer{ID: c.ID, Name: c.Name, Number: c.Number, Visible: c.Visible}
}

func projectFrom(p kimai.Project) plan.Project {
	return plan.Project{ID: p.ID, CustomerID: p.CustomerID, Name: p.Name, Number: p.Number, Visible: p.Visible, GlobalActivities: p.GlobalActivities}
}

func activityFrom(a kimai.Activity) plan.Activity {
	return plan.Activity{ID: a.ID, ProjectID: a.ProjectID, Name: a.Name, Number: a.Number, Visible: a.Visible}
}
