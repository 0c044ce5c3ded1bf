// keyward console: entry point. Loads who the caller is, then shows the
// sign-in form, the Projects page (administrator, or anyone while access
// control is off) or the "API & Keys" page of a project.
//
// Routes (in the URL fragment, never holding secrets):
//   #/projects       the administrator's project list
//   #/projects/<id>  API & Keys of one project
// An API key only ever sees its own project's page.

import { h, icon, clear } from './js/dom.js';
import { gql, signedInAs, clearCredentials, setUnauthenticatedHandler } from './js/api.js';
import { INIT, PROJECTS } from './js/queries.js';
import { renderSignIn, accessControlBanner } from './js/auth.js';
import { projectsView } from './js/projects.js';
import { keysView } from './js/keys.js';
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
  const viewer = data.viewer;
  const isAdmin = viewer.kind === 'ADMIN' || viewer.kind === 'ANONYMOUS';
  const role = viewer.role;
  let creatableRoles = [];
  if (isAdmin || role === 'OWNER') creatableRoles = ALL_ROLES;
  else if (role === 'MEMBER') creatableRoles = ['MEMBER', 'READ_ONLY'];
  return {
    viewer,
    accessControl: data.accessControl,
    currentProject: null,
    can: {
      manageProjects: isAdmin,
      editProject: isAdmin || role === 'OWNER',
    },
    creatableRoles,
    canManageKey(key) {
      return creatableRoles.includes(key.role);
    },
    navigate(hash) {
      if (location.hash === hash) route();
      else location.hash = hash;
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
    afterAccessControlDisabled() {
      clearCredentials();
      boot();
    },
  };
}

// ---- boot and sign-in ----------------------------------------------------------

async function boot() {
  app = null;
  clear(bannerSlot);
  renderTopbar();
  clear(main).append(h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Loading…'));
  try {
    const data = await gql(INIT, {}, { silent: true });
    start(data);
  } catch (error) {
    if (error.code === 'UNAUTHENTICATED') {
      const hadCredentials = signedInAs();
      showSignIn(hadCredentials ? 'The server no longer accepts the credentials of this session. Sign in again.' : null);
      return;
    }
    app = null;
    renderTopbar();
    const retry = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', 'data-testid': 'retry' }, 'Retry');
    retry.addEventListener('click', boot);
    clear(main).append(h('div', { class: 'page-narrow' }, h('h1', {}, 'The console could not load'), errorBox(error.message, retry)));
  }
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
}

function showSignIn(notice) {
  const username = signedInAs() || '';
  clearCredentials();
  app = null;
  clear(bannerSlot);
  renderTopbar();
  document.title = 'Sign in · keyward';
  clear(main);
  renderSignIn(main, {
    notice,
    username,
    onSignedIn: (data) => {
      const key = data.viewer.apiKey;
      announce(key ? `Signed in with API key “${key.name}”.` : `Signed in as ${signedInAs()}.`);
      start(data);
    },
  });
}

function signOut(message) {
  clearCredentials();
  showSignIn(message || null);
  announce('Signed out.');
}

setUnauthenticatedHandler(() => {
  // Credentials refused mid-session (key deactivated or deleted, password changed…).
  if (app) showSignIn('The server refused the credentials of this session (the key may have been deactivated or deleted). Sign in again.');
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
    { href: app?.can.manageProjects ? '#/projects' : '#/', class: 'brand', 'aria-label': 'keyward console home' },
    h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, icon('key', { size: 18 })),
    h('span', { class: 'brand-name' }, 'keyward'),
  );
  const nav = h('nav', { class: 'topnav', 'aria-label': 'Main' });
  if (app) {
    const onProjects = !location.hash.startsWith('#/projects/');
    if (app.can.manageProjects) {
      nav.append(h('a', { href: '#/projects', class: 'topnav-link', 'aria-current': onProjects ? 'page' : null, 'data-testid': 'nav-projects' }, 'Projects'));
    }
    const project = app.currentProject || app.viewer.project;
    if (project && (!onProjects || !app.can.manageProjects)) {
      nav.append(
        h(
          'span',
          { class: 'topnav-project', 'data-testid': 'current-project' },
          h('span', { class: 'topnav-label' }, 'Project'),
          // Administrators (and anyone while access control is off) switch
          // projects from here; an API key only ever has its own.
          app.can.manageProjects
            ? projectSwitcher(project)
            : h('span', { class: 'topnav-project-name' }, project.name),
        ),
      );
    }
  }
  const right = h('div', { class: 'topbar-right' });
  right.append(h('a', { href: '/graphql', class: 'topnav-link', 'data-testid': 'nav-graphiql' }, 'GraphiQL'));
  if (app) {
    const v = app.viewer;
    let who;
    if (v.kind === 'API_KEY') {
      who = h(
        'span',
        { class: 'identity', 'data-testid': 'identity', 'data-kind': v.kind, title: `API key ${v.apiKey?.accessKey || ''}` },
        icon('key'),
        h('span', { class: 'identity-name' }, v.apiKey?.name || 'API key'),
        h('span', { class: 'identity-role' }, ROLE_LABELS[v.role] || v.role),
      );
    } else if (v.kind === 'ADMIN') {
      who = h(
        'span',
        { class: 'identity', 'data-testid': 'identity', 'data-kind': v.kind },
        icon('shield'),
        h('span', { class: 'identity-name' }, signedInAs() || 'admin'),
        h('span', { class: 'identity-role' }, 'Administrator'),
      );
    } else {
      who = h(
        'span',
        { class: 'identity identity-anon', 'data-testid': 'identity', 'data-kind': v.kind, title: 'Access control is off' },
        icon('warning'),
        h('span', { class: 'identity-name' }, 'Anonymous'),
      );
    }
    right.append(who);
    if (signedInAs()) {
      const out = h('button', { type: 'button', class: 'btn btn-ghost btn-sm', 'data-testid': 'signout' }, icon('logout'), h('span', {}, 'Sign out'));
      out.addEventListener('click', () => signOut());
      right.append(out);
    }
  }
  topbar.append(h('div', { class: 'topbar-inner' }, brand, nav, right));
  if (hadSwitcherFocus) topbar.querySelector('[data-testid="project-switcher"]')?.focus();
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
        onSelect: () => app?.navigate(`#/projects/${encodeURIComponent(node.id)}`),
      }));
      if (totalCount > edges.length) all.label = `All ${totalCount} projects`;
      return [...items, 'separator', all];
    },
  });
}

// ---- routing ------------------------------------------------------------------------------

function route() {
  if (!app) return;
  const match = /^#\/projects\/([^/?#]+)$/.exec(location.hash);
  clear(main);
  const view = h('div', { class: 'view' });
  main.append(view);
  app.currentProject = null;
  if (!app.can.manageProjects) {
    // An API key: its own project, whatever the URL says.
    const project = app.viewer.project;
    if (!project) {
      view.append(errorBox('This key has no project.'));
      return;
    }
    if (location.hash !== '' && location.hash !== `#/projects/${encodeURIComponent(project.id)}`) {
      history.replaceState(null, '', `#/projects/${encodeURIComponent(project.id)}`);
    }
    app.setTitle(`API & Keys · ${project.name}`);
    keysView(view, app, project.id);
  } else if (match) {
    app.setTitle('API & Keys');
    keysView(view, app, decodeURIComponent(match[1]));
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
