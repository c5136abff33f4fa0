// quick diagnosis: one burst, print worker warnings
import { TaskServiceDefinition, TaskStatus } from '@cloudai/proto';
import { connect } from '@cloudai/rpc';
import { requireDocker, startCluster, TEST_IMAGE } from '@cloudai/testing';
const MIB = Number(process.env.MIB ?? 200);
await requireDocker();
const cluster = await startCluster({ workers: 1, workerEnv: () => ({ WORKER_CPU: '2', WORKER_MEMORY_GB: '4', ...(process.env.WENV ? JSON.parse(process.env.WENV) : {}) }), masterEnv: { ...(process.env.MENV ? JSON.parse(process.env.MENV) : {}), LOG_MAX_BYTES_PER_TASK: String((MIB + 16) * 1024 * 1024) } });
const api = connect(TaskServiceDefinition, cluster.masterAddr, { defaultDeadlineMs: 600_000, bearer: () => cluster.userToken });
const script = `yes 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ | head -c ${MIB * 1024 * 1024}`;
const t0 = performance.now();
const { task } = await api.client.submitTask({ spec: { image: TEST_IMAGE, command: ['sh', '-c', script], resources: { cpu: 1, memoryGb: 1 } } });
for (;;) { const { task: t } = await api.client.getTask({ taskId: task.taskId }); if (t.status >= TaskStatus.TASK_STATUS_SUCCEEDED) { console.log(TaskStatus[t.status], t.reason, (performance.now()-t0)/1000, 's'); break; } await new Promise(r => setTimeout(r, 50)); }
for (const [name, app] of cluster.apps) for (const l of app.logs) if (l.level >= 40 || /log|spool/.test(String(l.msg))) console.log(name, JSON.stringify(l).slice(0, 400));
for (const [name, app] of cluster.apps) if (name==='worker-1'||name==='master') console.log(name, /VmHWM:\s+(\d+)/.exec((await import('node:fs')).readFileSync(`/proc/${app.child.pid}/status`,'utf8'))[1]);
api.close(); await cluster.stop();
