import type { ReactNode } from 'react';
import { Link, useLocation } from '../router.js';
import { UserMenu } from './UserMenu.js';

const NAV = [
  { to: '/tasks', label: 'Tasks' },
  { to: '/submit', label: 'Submit' },
  { to: '/outputs', label: 'Outputs' },
  { to: '/workers', label: 'Workers' },
];

export function Layout({ children }: { children: ReactNode }) {
  const { pathname } = useLocation();
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <Link to="/tasks" className="brand">
          cloudai
        </Link>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.to}>
                <Link to={item.to} aria-current={pathname === item.to || (item.to === '/tasks' && pathname.startsWith('/tasks/')) ? 'page' : undefined}>
                  {item.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <UserMenu />
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}
