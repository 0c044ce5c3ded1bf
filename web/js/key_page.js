// One API key's own page (`#/projects/<id>/keys/<keyId>`, from its row in
// the keys table): its facts, its usage chart and recent clients, and its
// audit events.

import { h, icon, clear, timeEl } from './dom.js';
import { gql } from './api.js';
import { PROJECT_KEY, viewInApiUrl } from './queries.js';
import { errorBox, retryButton, copyButton, stateBadge, roleBadge } from './ui.js';
import { projectNotFound, projectPageHead, keyPageHref } from './projects.js';
import { auditTrail } from './audit.js';
import { createdBy, scopeList } from './keys.js';
import { usageCard, recentClientsCard } from './usage.js';

export function keyPageView(root, app, projectId, keyId) {
  const body = h('div', { class: 'view-body' });
  root.append(body);

  async function load() {
    body.setAttribute('aria-busy', 'true');
    try {
      const data = await gql(PROJECT_KEY, { project: projectId, key: keyId });
      if (!root.isConnected) return;
      app.refreshViewer(data.viewer);
      if (!data.project) {
        projectNotFound(body, app);
        return;
      }
      app.setCurrentProject(data.project);
      // A key of another project (or none) is not this page's.
      const key = data.key?.project?.id === data.project.id ? data.key : null;
      if (!key) {
        keyNotFound(data.project);
        return;
      }
      render(data.project, key);
    } catch (error) {
      if (error.handled) return;
      // A key id that is no key's id is refused as bad input: not found too.
      if (error.code === 'BAD_USER_INPUT') {
        clear(body).append(notFoundCard());
        return;
      }
      clear(body).append(errorBox(error.message, retryButton(load)));
    } finally {
      body.removeAttribute('aria-busy');
    }
  }

  function notFoundCard() {
    return h(
      'div',
      { class: 'card empty', 'data-testid': 'key-not-found' },
      h('h1', { tabindex: '-1' }, 'API key not found'),
      h('p', { class: 'muted' }, 'It does not exist, was deleted, or is not visible to you.'),
      h('a', { href: `#/projects/${encodeURIComponent(projectId)}`, class: 'btn btn-secondary' }, 'Back to API & Keys'),
    );
  }

  function keyNotFound(project) {
    app.setTitle('API key not found');
    clear(body).append(...projectPageHead(app, project, { title: 'API key', tab: null, trail: [{ label: 'Not found' }] }).filter(Boolean), notFoundCard());
  }

  function render(project, key) {
    app.setTitle(`${key.name} · API key · ${project.name}`);
    const keysHref = `#/projects/${encodeURIComponent(project.id)}`;
    const accessCode = h('code', { class: 'access-key', 'data-testid': 'key-page-access-key' }, key.accessKey);
    const facts = h(
      'dl',
      { class: 'facts key-facts', 'data-testid': 'key-facts' },
      fact('State', h('span', {}, stateBadge(key.state), key.expiresSoon ? h('span', { class: 'tag tag-warning', 'data-testid': 'expires-soon' }, 'expires soon') : null)),
      fact('Description', key.description ? h('span', { class: 'pre-line', 'data-testid': 'key-page-description' }, key.description) : h('span', { class: 'muted' }, 'None')),
      fact('Access key', h('span', { class: 'endpoint-row' }, accessCode, copyButton(() => accessCode.textContent, { what: 'access key', testid: 'key-page-copy-access-key', compact: true }))),
      fact('Role', roleBadge(key.role)),
      fact('Scopes', h('span', { 'data-testid': 'key-page-scopes' }, scopeList(key.scopes))),
      fact('Created', h('span', {}, timeEl(key.createdAt), ' by ', createdBy(key.createdBy))),
      fact('Last changed', timeEl(key.updatedAt)),
      fact('Last used', h('span', { 'data-testid': 'key-page-last-used' }, timeEl(key.lastUsedAt, { fallback: 'Never' }))),
      fact('Expires', h('span', { class: key.state === 'EXPIRED' ? 'text-expired' : '' }, timeEl(key.expiresAt, { fallback: 'Never' }))),
      fact(
        'Failed authentications',
        h(
          'span',
          { 'data-testid': 'key-page-failed-auth' },
          key.failedAuthCount > 0
            ? [h('span', { class: 'failed-count' }, `${key.failedAuthCount}×`), key.lastFailedAuthAt ? [h('span', { class: 'muted' }, ', the last '), timeEl(key.lastFailedAuthAt, { style: 'relative' })] : null]
            : h('span', { class: 'muted' }, 'None'),
        ),
      ),
      key.rotatedAt || key.rotatedFrom
        ? fact(
            'Rotation',
            h(
              'span',
              { 'data-testid': 'key-page-rotation' },
              key.rotatedFrom ? h('div', {}, 'Replaces ', keyLink(project.id, key.rotatedFrom)) : null,
              key.rotatedAt ? h('div', {}, 'Rotated ', timeEl(key.rotatedAt), key.rotatedTo ? [', replaced by ', keyLink(project.id, key.rotatedTo)] : null) : null,
            ),
          )
        : null,
    );
    const viewInApi = h(
      'a',
      { href: viewInApiUrl(key.id), class: 'btn btn-secondary', 'data-testid': 'view-in-api', 'aria-label': `View key ${key.name} in API` },
      icon('api'),
      h('span', {}, 'View in API'),
    );
    const trail = auditTrail({ app, projectId: project.id, keyId: key.id, title: 'Audit events' });
    clear(body).append(
      ...projectPageHead(app, project, {
        title: key.name,
        tab: null,
        lead: ['API key of project ', h('strong', {}, project.name), '. What it is, and everything done by it or to it.'],
        actions: [h('a', { href: keysHref, class: 'btn btn-secondary', 'data-testid': 'key-page-back' }, icon('chevronLeft'), h('span', {}, 'All keys')), viewInApi],
        trail: [{ label: key.name }],
      }).filter(Boolean),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'key-facts-title', 'data-testid': 'key-page', 'data-key-id': key.id, 'data-state': key.state },
        h('h2', { id: 'key-facts-title', class: 'card-title' }, icon('key'), ' Facts'),
        facts,
      ),
      h(
        'div',
        { class: 'key-usage', 'data-testid': 'key-usage', 'data-key-id': key.id },
        usageCard({ id: key.id, what: 'key', name: key.name }),
        recentClientsCard(key.recentClients ?? []),
      ),
      trail.element,
    );
  }

  load();
}

function fact(term, value) {
  return [h('dt', {}, term), h('dd', {}, value)];
}

/** Another key of the project, by name, linking to its page. */
function keyLink(projectId, key) {
  return h('a', { href: keyPageHref(projectId, key.id), title: key.accessKey }, key.name);
}
