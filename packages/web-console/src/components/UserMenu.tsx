import { useSession } from '../session.js';

/** Who is signed in, with what role, and the way out; a <details> menu works with the keyboard as it is. */
export function UserMenu() {
  const { session, signOut } = useSession();
  return (
    <details className="user-menu">
      <summary aria-label={`Account: ${session.user}`}>{session.user}</summary>
      <div className="user-menu-panel">
        <dl>
          <dt>User</dt>
          <dd data-testid="user-name">{session.user}</dd>
          <dt>Role</dt>
          <dd data-testid="user-role">{session.role}</dd>
        </dl>
        <button type="button" onClick={() => void signOut()}>
          Sign out
        </button>
      </div>
    </details>
  );
}
