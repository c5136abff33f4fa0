import Docker from 'dockerode';

/** The busybox image .ci/test-images.sh builds locally (no registry here). */
export const TEST_IMAGE = process.env.CLOUDAI_TEST_IMAGE ?? 'cloudai-test/busybox:1';

/** Fails with a clear message when the engine or the test image is missing. */
export async function requireDocker(): Promise<Docker> {
  const docker = new Docker();
  try {
    await docker.ping();
  } catch (err) {
    throw new Error(`these tests need a Docker engine (run .ci/provision.sh): ${(err as Error).message}`, { cause: err });
  }
  try {
    await docker.getImage(TEST_IMAGE).inspect();
  } catch {
    throw new Error(`test image ${TEST_IMAGE} is missing (run .ci/test-images.sh)`);
  }
  return docker;
}

/** Removes every container carrying the label, e.g. those of one test run. */
export async function removeContainersLabelled(docker: Docker, label: string): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: { label: [label] } });
  await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
}
