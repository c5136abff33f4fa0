import { idempotencyKeySchema, ResourcesSchema, TaskSpecSchema, taskNameSchema } from '@cloudai/domain';
import type { Resources, TaskSpec } from '@cloudai/proto';
import { z } from 'zod';
import { parseWith } from './query.js';

/**
 * POST /tasks's body. Each field is checked by the rule SubmitTask applies
 * to it (the domain's TaskSpecSchema, as the CLI's options are), so a 400
 * names the field before the master is asked; resources left out stay unset
 * for the master's defaults.
 */
const SubmitBody = z.strictObject({
  image: TaskSpecSchema.shape.image,
  command: TaskSpecSchema.shape.command.default([]),
  name: z.string().min(1, { error: 'name must not be empty' }).pipe(taskNameSchema('name')).optional(),
  cpu: ResourcesSchema.shape.cpu.optional(),
  memoryGb: ResourcesSchema.shape.memoryGb.optional(),
  storageGb: ResourcesSchema.shape.storageGb.optional(),
  gpu: ResourcesSchema.shape.gpu.optional(),
  env: TaskSpecSchema.shape.env.default({}),
  timeoutSeconds: TaskSpecSchema.shape.timeoutSeconds.default(0),
  network: TaskSpecSchema.shape.network.default(false),
  idempotencyKey: idempotencyKeySchema('idempotencyKey').optional(),
});

/** The SubmitTask request a POST /tasks body asks for; a 400 naming the field when it breaks a rule. */
export function submitRequestOf(body: unknown): { spec: TaskSpec; idempotencyKey: string } {
  const b = parseWith(SubmitBody, body);
  const resources: Resources = {};
  if (b.cpu !== undefined) resources.cpu = b.cpu;
  if (b.memoryGb !== undefined) resources.memoryGb = b.memoryGb;
  if (b.storageGb !== undefined) resources.storageGb = b.storageGb;
  if (b.gpu !== undefined) resources.gpu = b.gpu;
  return {
    spec: {
      image: b.image,
      command: b.command,
      env: b.env,
      resources,
      taskName: b.name ?? '',
      timeoutSeconds: b.timeoutSeconds,
      network: b.network,
    },
    idempotencyKey: b.idempotencyKey ?? '',
  };
}
