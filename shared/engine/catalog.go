package engine

import "github.com/timebridge/timebridge/shared/kimai"

// Conversions from the Kimai client's catalog types to the engine's.

func customerFrom(c kimai.Customer) Customer {
	return Customer{ID: c.ID, Name: c.Name, Number: c.Number, Visible: c.Visible}
}

func projectFrom(p kimai.Project) Project {
	return Project{ID: p.ID, CustomerID: p.CustomerID, Name: p.Name, Number: p.Number, Visible: p.Visible, GlobalActivities: p.GlobalActivities}
}

func activityFrom(a kimai.Activity) Activity {
	return Activity{ID: a.ID, ProjectID: a.ProjectID, Name: a.Name, Number: a.Number, Visible: a.Visible}
}
