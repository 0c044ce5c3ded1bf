// keyward console: entry point. Loads who the caller is, then shows the
// sign-in form or a page of the console.
//
// Routes (in the URL fragment, never holding secrets):
//   #/projects               the project list (all of them for an
//                            administrator, their own for a user)
//   #/projects/<id>          API & Keys of one project
//   #/projects/<id>/members  Members of one project
//   #/projects/<id>/audit    the project's audit trail
//   #/projects/<id>/webhooks the project's webhooks (those who manage them)
//   #/projects/<id>/keys/<keyId>  one key's page: its facts and its trail
//   #/audit                  the administrators' server-wide audit trail
//   #/users                  the administrators' Users page
//   #/sso                    the administrators' Single sign-on page
//   #/account                My account (a signed-in user)
// An API key only ever sees its own project's pages.

import { h, icon, clear } from './js/dom.js';
import {
  gql,
  signedInAs,
  signInMethod,
  clearCredentials,
  loadSession,
  signOutSession,
  setUnauthenticatedHandler,
} from './js/api.js';
import { INIT, PROJECTS } from './js/queries.js';
import { renderSignIn, accessControlBanner, signInErrorSentence } from './js/auth.js';
import { projectsView } from './js/projects.js';
import { keysView } from './js/keys.js';
import { membersView } from './js/members.js';
import { usersView } from './js/users.js';
import { ssoView } from './js/sso.js';
import { accountView } from './js/account.js';
import { projectAuditView, serverAuditView } from './js/audit.js';
import { webhooksView } from './js/webhooks.js';
import { keyPageView } from './js/key_page.js';
import { errorBox, announce, menuButton, ROLE_LABELS } from './js/ui.js';

const ALL_ROLES = ['OWNER', 'MEMBER', 'READ_ONLY'];
/** How many projects the top bar's project switcher lists. */
const SWITCHER_SIZE = 100;

const topbar = document.getElementById('topbar');
const bannerSlot = document.getElementById('banner-slot');
const main = document.getElementById('main');

let app = null;
let navigated = false;

function makeApp(data) {
  const app = {
    viewer: data.viewer,
    accessControl: data.accessControl,
    currentProject: null,
    /** What the caller may do outside any one project (see `access` for a project). */
    get can() {
      const kind = this.viewer.kind;
      const everything = kind === 'ADMIN' || kind === 'ANONYMOUS';
      return {
        // Administrators (and anyone while access control is off) see every
        // project, users the projects they are members of; a key only its own.
        listProjects: kind !== 'API_KEY',
        createProject: everything || kind === 'USER',
        deleteProject: everything,
        manageUsers: kind === 'ADMIN',
        // Picking users for a project needs the users list: administrators only.
        listUsers: everything,
      };
    },
    /**
     * The caller's powers in project `projectId`: its role there (OWNER for
     * administrators and anyone while access control is off), the key roles
     * it may create and manage, whether it edits the project and manages
     * its members. The server decides; this only chooses what to offer.
     */
    access(projectId) {
      const v = this.viewer;
      let role = null;
      if (v.kind === 'ADMIN' || v.kind === 'ANONYMOUS') role = 'OWNER';
      else if (v.kind === 'API_KEY') role = v.project?.id === projectId ? v.role : null;
      else role = v.user?.memberships.find((m) => m.project.id === projectId)?.role ?? null;
      let creatableRoles = [];
      if (role === 'OWNER') creatableRoles = ALL_ROLES;
      else if (role === 'MEMBER') creatableRoles = ['MEMBER', 'READ_ONLY'];
      return {
        role,
        creatableRoles,
        editProject: role === 'OWNER',
        manageMembers: role === 'OWNER',
        // Webhooks: administrators and the project's OWNERs (keys and users).
        manageWebhooks: role === 'OWNER',
        canManageKey: (key) => creatableRoles.includes(key.role),
      };
    },
    /**
     * Takes a fresher `viewer` (pages load it with their data, so a role
     * changed meanwhile is seen); the top bar follows what it shows.
     */
    refreshViewer(viewer) {
      if (!viewer) return;
      const shown = (v) => JSON.stringify([v.kind, v.role, v.user?.displayName, v.user?.administrator, v.apiKey?.name]);
      const changed = shown(viewer) !== shown(this.viewer);
      this.viewer = viewer;
      if (changed) renderTopbar();
    },
    navigate(hash) {
      if (location.hash === hash) route();
      else location.hash = hash;
    },
    /** Loads everything again (after a change to the caller's own powers). */
    reload() {
      boot();
    },
    setTitle(text) {
      document.title = `${text} · keyward`;
    },
    setCurrentProject(project) {
      this.currentProject = project;
      renderTopbar();
    },
    signOut(message) {
      signOut(message);
    },
    /** The server has ended this console's sign-in (e.g. sign out everywhere). */
    signedOutByServer(message) {
      signedOutByServer(message);
    },
    afterAccessControlDisabled() {
      clearCredentials();
      boot();
    },
  };
  return app;
}

// ---- boot and sign-in ----------------------------------------------------------

async function boot() {
  app = null;
  clear(bannerSlot);
  renderTopbar();
  clear(main).append(h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Loading…'));
  try {
    // Without stored Basic credentials, a session cookie may sign us in.
    if (signInMethod() !== 'basic') await loadSession();
    const data = await gql(INIT, {}, { silent: true });
    start(data);
  } catch (error) {
    if (error.code === 'UNAUTHENTICATED') {
      const hadCredentials = signedInAs();
      showSignIn(hadCredentials ? 'The server no longer accepts the credentials of this session. Sign in again.' : signInFailedNotice());
      return;
    }
    app = null;
    renderTopbar();
    const retry = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', 'data-testid': 'retry' }, 'Retry');
    retry.addEventListener('click', boot);
    clear(main).append(h('div', { class: 'page-narrow' }, h('h1', {}, 'The console could not load'), errorBox(error.message, retry)));
  }
}

/**
 * The HTML sign-in form (for browsers without JavaScript) comes back to
 * `/?signInFailed=1` when it failed: say so once, and drop it from the URL.
 */
function signInFailedNotice() {
  const params = new URLSearchParams(location.search);
  if (!params.has('signInFailed')) return null;
  dropParam('signInFailed');
  return 'Sign-in failed: the username or password is wrong, or the account is disabled.';
}

/** Removes `name` from the page's query string, keeping the rest (e.g. `returnTo`). */
function dropParam(name) {
  const params = new URLSearchParams(location.search);
  params.delete(name);
  const search = params.toString();
  history.replaceState(null, '', `${location.pathname}${search ? `?${search}` : ''}${location.hash}`);
}

/**
 * A sign-in through an identity provider that failed comes back to
 * `/?signInError=<code>`: read the code once (the sign-in page turns it
 * into a sentence, never showing the parameter itself) and drop it from
 * the URL, so a reload does not repeat it.
 */
const signInError = (() => {
  const code = new URLSearchParams(location.search).get('signInError');
  if (code === null) return null;
  dropParam('signInError');
  return code;
})();
let signInErrorShown = false;

/**
 * Where a proxy in front of an internal tool sent the person from
 * (`/?returnTo=<url>`): handed to the server with the sign-in, which alone
 * decides whether to go back there.
 */
function returnTo() {
  return new URLSearchParams(location.search).get('returnTo');
}

function start(data) {
  if (!data.accessControl.enabled && signedInAs()) {
    // Access control was turned off: stored credentials are meaningless now.
    clearCredentials();
  }
  app = makeApp(data);
  renderBanner();
  renderTopbar();
  navigated = false;
  route();
  if (signInError !== null && !signInErrorShown) {
    // Signed in already (or access control is off): the failure still deserves a word.
    signInErrorShown = true;
    announce(`Sign-in failed. ${signInErrorSentence(signInError)}`, 'error');
  }
}

function showSignIn(notice) {
  const username = signedInAs() || '';
  // An access key signed in with Basic credentials; a user (usually) with a session.
  const method = signInMethod() === 'basic' ? 'key' : 'user';
  clearCredentials();
  app = null;
  clear(bannerSlot);
  renderTopbar();
  document.title = 'Sign in · keyward';
  clear(main);
  // A failed sign-in through a provider is told once, on the first sign-in page.
  const error = signInErrorShown ? null : signInError;
  signInErrorShown = true;
  renderSignIn(main, {
    notice,
    error,
    returnTo: returnTo(),
    username,
    method,
    onSignedIn: (data) => {
      const key = data.viewer.apiKey;
      const user = data.viewer.user;
      announce(key ? `Signed in with API key “${key.name}”.` : `Signed in as ${user?.displayName || signedInAs()}.`);
      start(data);
    },
  });
}

async function signOut(message) {
  if (signInMethod() === 'session') {
    try {
      await signOutSession();
    } catch (error) {
      // The cookie still works: staying signed in is the honest answer.
      announce(`Could not sign out: ${error.message}`, 'error');
      return;
    }
  }
  clearCredentials();
  showSignIn(message || null);
  announce('Signed out.');
}

async function signedOutByServer(message) {
  if (signInMethod() === 'session') {
    // The session has ended already; this only clears its cookie.
    await signOutSession().catch(() => {});
  }
  clearCredentials();
  showSignIn(message || null);
}

setUnauthenticatedHandler(() => {
  // Credentials refused mid-session (key deactivated or deleted, password
  // changed, session expired or ended elsewhere…).
  if (!app) return;
  showSignIn(
    signInMethod() === 'session'
      ? 'Your session has ended (it expired, was signed out elsewhere, or your account changed). Sign in again.'
      : 'The server refused the credentials of this session (the key may have been deactivated or deleted). Sign in again.',
  );
});

// ---- chrome: top bar and banner ------------------------------------------------------

function renderBanner() {
  clear(bannerSlot);
  if (app && !app.accessControl.enabled) {
    bannerSlot.append(accessControlBanner({ onEnabled: boot }));
  }
}

function renderTopbar() {
  // Re-rendering must not drop keyboard focus from the project switcher.
  const hadSwitcherFocus = document.activeElement?.getAttribute('data-testid') === 'project-switcher';
  clear(topbar);
  const brand = h(
    'a',
    { href: app?.can.listProjects ? '#/projects' : '#/', class: 'brand', 'aria-label': 'keyward console home' },
    h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, icon('key', { size: 18 })),
    h('span', { class: 'brand-name' }, 'keyward'),
  );
  const nav = h('nav', { class: 'topnav', 'aria-label': 'Main' });
  if (app) {
    const onProjectPage = location.hash.startsWith('#/projects/');
    const onProjects = !onProjectPage && !['#/users', '#/sso', '#/account', '#/audit'].includes(location.hash);
    if (app.can.listProjects) {
      nav.append(h('a', { href: '#/projects', class: 'topnav-link', 'aria-current': onProjects ? 'page' : null, 'data-testid': 'nav-projects' }, 'Projects'));
    }
    if (app.can.manageUsers) {
      nav.append(
        h('a', { href: '#/users', class: 'topnav-link', 'aria-current': location.hash === '#/users' ? 'page' : null, 'data-testid': 'nav-users' }, 'Users'),
        h('a', { href: '#/sso', class: 'topnav-link', 'aria-current': location.hash === '#/sso' ? 'page' : null, 'data-testid': 'nav-sso' }, 'Single sign-on'),
        h('a', { href: '#/audit', class: 'topnav-link', 'aria-current': location.hash === '#/audit' ? 'page' : null, 'data-testid': 'nav-audit' }, 'Audit'),
      );
    }
    const project = app.currentProject || app.viewer.project;
    if (project && (onProjectPage || !app.can.listProjects)) {
      nav.append(
        h(
          'span',
          { class: 'topnav-project', 'data-testid': 'current-project' },
          h('span', { class: 'topnav-label' }, 'Project'),
          // Whoever has a projects list switches projects from here; an
          // API key only ever has its own.
          app.can.listProjects
            ? projectSwitcher(project)
            : h('span', { class: 'topnav-project-name' }, project.name),
        ),
      );
    }
  }
  const right = h('div', { class: 'topbar-right' });
  right.append(h('a', { href: '/graphql', class: 'topnav-link', 'data-testid': 'nav-graphiql' }, 'GraphiQL'));
  if (app) {
    right.append(identity(app.viewer));
    if (signedInAs()) {
      const out = h('button', { type: 'button', class: 'btn btn-ghost btn-sm', 'data-testid': 'signout' }, icon('logout'), h('span', {}, 'Sign out'));
      out.addEventListener('click', () => signOut());
      right.append(out);
    }
  }
  topbar.append(h('div', { class: 'topbar-inner' }, brand, nav, right));
  if (hadSwitcherFocus) topbar.querySelector('[data-testid="project-switcher"]')?.focus();
}

/** Who is signed in, in the top bar; for a user, the link to My account. */
function identity(v) {
  if (v.kind === 'API_KEY') {
    return h(
      'span',
      { class: 'identity', 'data-testid': 'identity', 'data-kind': v.kind, title: `API key ${v.apiKey?.accessKey || ''}` },
      icon('key'),
      h('span', { class: 'identity-name' }, v.apiKey?.name || 'API key'),
      h('span', { class: 'identity-role' }, ROLE_LABELS[v.role] || v.role),
    );
  }
  if (v.kind === 'ANONYMOUS') {
    return h(
      'span',
      { class: 'identity identity-anon', 'data-testid': 'identity', 'data-kind': v.kind, title: 'Access control is off' },
      icon('warning'),
      h('span', { class: 'identity-name' }, 'Anonymous'),
    );
  }
  // ADMIN or USER. An administrator signed in with Basic credentials before
  // users existed has no user: then the name signed in with.
  const name = v.user?.displayName || signedInAs() || 'admin';
  const parts = [
    icon(v.kind === 'ADMIN' ? 'shield' : 'user'),
    h('span', { class: 'identity-name' }, name),
    v.kind === 'ADMIN' ? h('span', { class: 'identity-role' }, 'Administrator') : null,
  ];
  if (!v.user) return h('span', { class: 'identity', 'data-testid': 'identity', 'data-kind': v.kind }, parts);
  return h(
    'a',
    {
      href: '#/account',
      class: 'identity identity-link',
      'data-testid': 'identity',
      'data-kind': v.kind,
      title: `My account (${v.user.username})`,
      'aria-current': location.hash === '#/account' ? 'page' : null,
    },
    parts,
    h('span', { class: 'visually-hidden' }, ': my account'),
  );
}

/**
 * The current project as a menu button listing the first projects (loaded
 * afresh each time it opens); choosing one opens its API & Keys page.
 */
function projectSwitcher(current) {
  return menuButton({
    label: `Project ${current.name}: switch project`,
    testid: 'project-switcher',
    text: [h('span', { class: 'topnav-project-name' }, current.name), icon('chevronDown', { size: 14 })],
    className: 'project-switcher',
    menuClass: 'menu-scroll',
    align: 'start',
    items: async () => {
      const all = { label: 'All projects', testid: 'switch-all-projects', icon: 'chevronRight', onSelect: () => app?.navigate('#/projects') };
      let data;
      try {
        data = await gql(PROJECTS, { first: SWITCHER_SIZE });
      } catch (error) {
        if (!error.handled) announce(`Could not load the projects: ${error.message}`, 'error');
        return [all];
      }
      const { edges, totalCount } = data.projects;
      const items = edges.map(({ node }) => ({
        label: node.name,
        testid: 'switch-project',
        icon: node.id === current.id ? 'check' : 'folder',
        current: node.id === current.id,
        attrs: { 'data-project-id': node.id, title: node.description || null },
        // The same tab (API & Keys, Members, Audit, Webhooks) of the other project.
        onSelect: () => app?.navigate(`#/projects/${encodeURIComponent(node.id)}${projectTabOf(location.hash)}`),
      }));
      if (totalCount > edges.length) all.label = `All ${totalCount} projects`;
      return [...items, 'separator', all];
    },
  });
}

// ---- routing ------------------------------------------------------------------------------

/** A project page's route: `#/projects/<id>` and what follows it, or null. */
function projectRoute(hash) {
  const match = /^#\/projects\/([^/?#]+)(?:\/(members|audit|webhooks)|\/keys\/([^/?#]+))?$/.exec(hash);
  if (!match) return null;
  return { projectId: decodeURIComponent(match[1]), tab: match[2] || (match[3] ? 'key' : 'keys'), keyId: match[3] ? decodeURIComponent(match[3]) : null };
}

/** The tab suffix of a project page's route ('' for API & Keys and a key's page). */
function projectTabOf(hash) {
  const tab = projectRoute(hash)?.tab;
  return ['members', 'audit', 'webhooks'].includes(tab) ? `/${tab}` : '';
}

function route() {
  if (!app) return;
  const match = projectRoute(location.hash);
  clear(main);
  const view = h('div', { class: 'view' });
  main.append(view);
  app.currentProject = null;
  const projectPage = ({ projectId, tab, keyId }) => {
    if (tab === 'members') {
      app.setTitle('Members');
      membersView(view, app, projectId);
    } else if (tab === 'audit') {
      app.setTitle('Audit');
      projectAuditView(view, app, projectId);
    } else if (tab === 'webhooks') {
      app.setTitle('Webhooks');
      webhooksView(view, app, projectId);
    } else if (tab === 'key') {
      app.setTitle('API key');
      keyPageView(view, app, projectId, keyId);
    } else {
      app.setTitle('API & Keys');
      keysView(view, app, projectId);
    }
  };
  if (location.hash === '#/users' && app.can.manageUsers) {
    app.setTitle('Users');
    usersView(view, app);
  } else if (location.hash === '#/sso' && app.can.manageUsers) {
    app.setTitle('Single sign-on');
    ssoView(view, app);
  } else if (location.hash === '#/audit' && app.can.manageUsers) {
    app.setTitle('Audit');
    serverAuditView(view, app);
  } else if (location.hash === '#/account' && app.viewer.user) {
    app.setTitle('My account');
    accountView(view, app);
  } else if (!app.can.listProjects) {
    // An API key: its own project, whatever the URL says.
    const project = app.viewer.project;
    if (!project) {
      view.append(errorBox('This key has no project.'));
      return;
    }
    const home = `#/projects/${encodeURIComponent(project.id)}`;
    const own = match && match.projectId === project.id ? match : null;
    if (!own && location.hash !== '' && location.hash !== home) history.replaceState(null, '', home);
    projectPage(own || { projectId: project.id, tab: 'keys', keyId: null });
  } else if (match) {
    projectPage(match);
  } else {
    if (location.hash !== '#/projects') history.replaceState(null, '', '#/projects');
    app.setTitle('Projects');
    projectsView(view, app);
  }
  renderTopbar();
  if (navigated) focusHeadingWhenReady(view);
  navigated = true;
}

/** After navigation, move focus to the new page's heading once it exists. */
function focusHeadingWhenReady(view) {
  const focus = () => {
    const heading = view.querySelector('h1');
    if (heading) {
      heading.focus();
      return true;
    }
    return false;
  };
  if (focus()) return;
  const observer = new MutationObserver(() => {
    if (focus()) observer.disconnect();
  });
  observer.observe(view, { childList: true, subtree: true });
  setTimeout(() => observer.disconnect(), 10_000);
}

window.addEventListener('hashchange', route);

document.getElementById('skip-link')?.addEventListener('click', (event) => {
  event.preventDefault();
  (main.querySelector('h1') || main).focus();
});

boot();
