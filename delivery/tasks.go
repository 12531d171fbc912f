package delivery

import (
	"context"
	"time"

	"github.com/herald-webhooks/herald"
)

// taskBudget bounds one run of the background tasks, so that the leader
// gets back to its other work (and to renewing its term) soon.
const taskBudget = time.Second

// runTasks advances the running background tasks, one batch of each in
// turn, until they end or the run's budget is spent, and reports how many
// ended. Every batch commits with the task's progress, so a task that a
// stopped or dead leader left running resumes from its last batch under
// the next leader.
func (m *Maintainer) runTasks(ctx context.Context, now time.Time) (int, error) {
	page, err := m.store.TaskList(ctx, herald.TaskFilter{Status: herald.TaskRunning},
		herald.ListParams{Limit: herald.MaxListLimit, Ascending: true})
	if err != nil {
		return 0, err
	}
	running := page.Items
	deadline := m.cfg.Now().Add(taskBudget)
	ended := 0
	for len(running) > 0 && ctx.Err() == nil && m.cfg.Now().Before(deadline) {
		next := running[:0]
		for _, t := range running {
			got, err := m.store.TaskStep(ctx, t.ID, m.cfg.TaskBatch, m.cfg.Now())
			if err != nil {
				return ended, err
			}
			if got.Status == herald.TaskRunning {
				next = append(next, *got)
				continue
			}
			ended++
			m.log.Info("background task ended", "task_id", got.ID, "task", got.Kind, "status", got.Status,
				"app_id", got.AppID, "endpoint_id", got.Params.EndpointID, "scanned", got.Scanned, "queued", got.Queued, "skipped", got.Skipped,
				"err", got.Error)
		}
		running = next
	}
	return ended, nil
}
