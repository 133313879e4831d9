import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { MOTO_INSTALL_HINT, MOTO_PYTHON_DIR } from '../../local/moto-server.ts';

// Before every request's action, moto marks the role behind a role session's key as used, and finds
// it by walking IAM's dict of roles. A world's CreateRole on another thread can add a role during
// that walk: "dictionary changed size during iteration", an HTML 500 to the request that met it.
// The tests' moto_server (local/moto-python/sitecustomize.py) walks a copy of the roles. The race
// is made certain here: the first role's ARN, when read, adds a role, as a CreateRole landing
// mid-walk would.
const WALK = `
import json
import sitecustomize  # noqa: F401  (the moto_server's changes, first on PYTHONPATH)
from moto.iam.models import iam_backends, NotFoundException

backend = iam_backends["123456789012"]["aws"]
node = backend.create_role("node", "{}", "/", None, None, [], [], None)

class CreateRoleMidWalk:
    @property
    def arn(self):
        backend.roles["AROALANDEDMIDWALK"] = node
        return "arn:aws:iam::123456789012:role/being-created"

backend.roles = {"AROAFIRST": CreateRoleMidWalk(), **backend.roles}
result = {}
try:
    result["found"] = backend.get_role_by_arn(node.arn).name
except Exception as error:
    result["found"] = f"{type(error).__name__}: {error}"
try:
    backend.get_role_by_arn("arn:aws:iam::123456789012:role/unknown")
    result["unknown"] = "found"
except NotFoundException as error:
    result["unknown"] = error.code
print(json.dumps(result))
`;

describe("moto_server's IAM: the role behind a session key while a role is created", () => {
  it('finds the role though a role is added during the walk, and still answers NoSuchEntity for an unknown ARN', () => {
    const run = spawnSync('python3', ['-c', WALK], { encoding: 'utf8', env: { ...process.env, PYTHONPATH: MOTO_PYTHON_DIR } });
    if (run.error !== undefined || /No module named 'moto'/.test(run.stderr)) throw new Error(MOTO_INSTALL_HINT);

    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ found: 'node', unknown: 'NoSuchEntity' });
  });
});
