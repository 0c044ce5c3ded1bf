// Every GraphQL document the console sends (see /schema.graphql).

/**
 * Who the caller is, and what the console needs to decide what to offer:
 * for a user, their role in each of their projects. Pages that change what
 * the caller may do ask for it again with their own data.
 */
const VIEWER_FIELDS = `kind
    role
    apiKey { id name accessKey }
    project { id name }
    user {
      id username displayName administrator
      memberships { role project { id name } }
    }`;

export const INIT = `query ConsoleInit {
  accessControl { enabled }
  viewer {
    ${VIEWER_FIELDS}
  }
}`;

export const ENABLE_ACCESS_CONTROL = `mutation EnableAccessControl($input: EnableAccessControlInput!) {
  enableAccessControl(input: $input) { enabled }
}`;

export const DISABLE_ACCESS_CONTROL = `mutation DisableAccessControl {
  disableAccessControl { enabled }
}`;

const PROJECT_FIELDS = `id name description endpoint verifyUrl createdAt updatedAt`;

export const PROJECTS = `query ConsoleProjects($first: Int!, $after: String) {
  viewer { ${VIEWER_FIELDS} }
  projects(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      node {
        ${PROJECT_FIELDS}
        keys: apiKeys(first: 0) { totalCount }
        activeKeys: apiKeys(first: 0, state: ACTIVE) { totalCount }
      }
    }
  }
}`;

const KEY_FIELDS = `id name description accessKey role scopes state createdAt updatedAt
  lastUsedAt expiresAt expiresSoon failedAuthCount lastFailedAuthAt rotatedAt
  createdBy { id username displayName }`;

export const PROJECT_KEYS = `query ConsoleProjectKeys($id: ID, $first: Int!, $after: String, $state: KeyState) {
  viewer { ${VIEWER_FIELDS} }
  project(id: $id) {
    ${PROJECT_FIELDS}
    apiKeys(first: $first, after: $after, state: $state) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { ${KEY_FIELDS} } }
    }
  }
}`;

export const CREATE_PROJECT = `mutation ConsoleCreateProject($input: CreateProjectInput!) {
  createProject(input: $input) { project { id name } }
}`;

export const UPDATE_PROJECT = `mutation ConsoleUpdateProject($input: UpdateProjectInput!) {
  updateProject(input: $input) { project { id name description } }
}`;

export const DELETE_PROJECT = `mutation ConsoleDeleteProject($input: DeleteProjectInput!) {
  deleteProject(input: $input) { deletedProjectId }
}`;

export const CREATE_KEY = `mutation ConsoleCreateKey($input: CreateApiKeyInput!) {
  createApiKey(input: $input) {
    secretKey
    apiKey { id name accessKey role scopes state expiresAt }
  }
}`;

export const ROTATE_KEY = `mutation ConsoleRotateKey($input: RotateKeyInput!) {
  rotateKey(input: $input) {
    secretKey
    apiKey { id name accessKey role scopes state expiresAt }
    previousKey { id expiresAt }
  }
}`;

export const SET_KEY_STATE = `mutation ConsoleSetKeyState($input: SetKeyStateInput!) {
  setKeyState(input: $input) { apiKey { id state } }
}`;

export const RENAME_KEY = `mutation ConsoleRenameKey($input: RenameKeyInput!) {
  renameKey(input: $input) { apiKey { id name description } }
}`;

export const DELETE_KEY = `mutation ConsoleDeleteKey($input: DeleteKeyInput!) {
  deleteKey(input: $input) { deletedKeyId }
}`;

// ---- people: users, project members, the signed-in user --------------------------------

const USER_FIELDS = `id username displayName administrator state createdAt lastSignInAt`;

export const USERS = `query ConsoleUsers($first: Int!, $after: String) {
  viewer { ${VIEWER_FIELDS} }
  users(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { ${USER_FIELDS} memberships { role } identities { provider subject linkedAt } groups } }
  }
}`;

/** One page of users for the member picker (administrators). */
export const USER_CHOICES = `query ConsoleUserChoices($first: Int!, $after: String) {
  users(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id username displayName state } }
  }
}`;

export const CREATE_USER = `mutation ConsoleCreateUser($input: CreateUserInput!) {
  createUser(input: $input) { user { ${USER_FIELDS} } }
}`;

export const UPDATE_USER = `mutation ConsoleUpdateUser($input: UpdateUserInput!) {
  updateUser(input: $input) { user { id displayName administrator } }
}`;

export const SET_USER_STATE = `mutation ConsoleSetUserState($input: SetUserStateInput!) {
  setUserState(input: $input) { user { id state } }
}`;

export const RESET_USER_PASSWORD = `mutation ConsoleResetUserPassword($input: ResetUserPasswordInput!) {
  resetUserPassword(input: $input) { user { id } }
}`;

export const DELETE_USER = `mutation ConsoleDeleteUser($input: DeleteUserInput!) {
  deleteUser(input: $input) { deletedUserId }
}`;

export const CHANGE_PASSWORD = `mutation ConsoleChangePassword($input: ChangePasswordInput!) {
  changePassword(input: $input) { user { id } }
}`;

export const SIGN_OUT_EVERYWHERE = `mutation ConsoleSignOutEverywhere($input: SignOutEverywhereInput!) {
  signOutEverywhere(input: $input) { user { id } }
}`;

/** The signed-in user, for My account. */
export const ACCOUNT = `query ConsoleAccount {
  viewer {
    ${VIEWER_FIELDS}
    user { ${USER_FIELDS} identities { provider subject linkedAt } groups }
  }
}`;

const MEMBER_FIELDS = `role addedAt user { id username displayName administrator state }`;

export const PROJECT_MEMBERS = `query ConsoleProjectMembers($id: ID, $first: Int!, $after: String) {
  viewer { ${VIEWER_FIELDS} }
  project(id: $id) {
    ${PROJECT_FIELDS}
    members(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { ${MEMBER_FIELDS} } }
    }
    groupMembers { group role addedAt }
  }
}`;

export const ADD_PROJECT_MEMBER = `mutation ConsoleAddProjectMember($input: ProjectMemberInput!) {
  addProjectMember(input: $input) { member { ${MEMBER_FIELDS} } }
}`;

export const SET_PROJECT_MEMBER_ROLE = `mutation ConsoleSetProjectMemberRole($input: ProjectMemberInput!) {
  setProjectMemberRole(input: $input) { member { role user { id } } }
}`;

export const REMOVE_PROJECT_MEMBER = `mutation ConsoleRemoveProjectMember($input: RemoveProjectMemberInput!) {
  removeProjectMember(input: $input) { removedUserId }
}`;

// ---- single sign-on: identity providers, access mode, groups, identities ------------------
//
// Mutations pass each input field as its own variable (of the field's type)
// and select only `__typename`: the console reloads what it shows
// afterwards, and depends on no input or payload type name.

const PROVIDER_FIELDS = `id name issuerUrl clientId scopes usernameClaim groupsClaim enabled createdAt`;

/** Identity providers, the access mode and the users the mode may name (administrators). */
export const SINGLE_SIGN_ON = `query ConsoleSingleSignOn {
  viewer { ${VIEWER_FIELDS} }
  identityProviders { ${PROVIDER_FIELDS} }
  accessControl { enabled mode allowedUsers allowedGroups }
}`;

/** The identity providers' names, for Link identity (administrators). */
export const PROVIDER_NAMES = `query ConsoleProviderNames {
  identityProviders { id name enabled }
}`;

/** The GraphQL type of each input field the console sends. */
const INPUT_TYPES = {
  id: 'ID!',
  name: 'String!',
  issuerUrl: 'String!',
  clientId: 'String!',
  clientSecret: 'String!',
  scopes: '[String!]!',
  usernameClaim: 'String!',
  groupsClaim: 'String!',
  enabled: 'Boolean!',
  allowedUsers: '[ID!]!',
  allowedGroups: '[String!]!',
  projectId: 'ID!',
  group: 'String!',
  role: 'Role!',
  userId: 'ID!',
  provider: 'String!',
  subject: 'String!',
};

/** Enum input fields written as literals (one of these values, never anything else). */
const ENUM_LITERALS = {
  mode: ['UNRESTRICTED', 'RESTRICTED', 'REQUIRED'],
};

/**
 * `mutation { <field>(input: {…}) { __typename } }` for the input `input`
 * (only its keys, each one a variable, or an enum literal), and its variables.
 */
export function inputMutation(fieldName, input) {
  const keys = Object.keys(input).filter((key) => input[key] !== undefined);
  const literals = keys.filter((key) => ENUM_LITERALS[key]);
  const variables = keys.filter((key) => !ENUM_LITERALS[key]);
  for (const key of literals) {
    if (!ENUM_LITERALS[key].includes(input[key])) throw new Error(`${key} cannot be ${input[key]}`);
  }
  for (const key of variables) {
    if (!INPUT_TYPES[key]) throw new Error(`no GraphQL type known for input field ${key}`);
  }
  const declarations = variables.map((key) => `$${key}: ${INPUT_TYPES[key]}`).join(', ');
  const fields = keys.map((key) => (ENUM_LITERALS[key] ? `${key}: ${input[key]}` : `${key}: $${key}`)).join(', ');
  const operation = `Console${fieldName[0].toUpperCase()}${fieldName.slice(1)}`;
  return {
    query: `mutation ${operation}${variables.length ? `(${declarations})` : ''} {
  ${fieldName}(input: {${fields}}) { __typename }
}`,
    variables: Object.fromEntries(variables.map((key) => [key, input[key]])),
  };
}

/** The GraphiQL URL that shows object `id` through `node(id:)` ("View in API"). */
export function viewInApiUrl(id) {
  const query = `query ViewInApi {
  node(id: ${JSON.stringify(id)}) {
    id
    ... on Project {
      name
      description
      endpoint
      verifyUrl
      createdAt
      updatedAt
    }
    ... on ApiKey {
      name
      description
      accessKey
      role
      scopes
      state
      createdAt
      lastUsedAt
      expiresAt
      createdBy { username displayName }
      project { id name }
    }
    ... on User {
      username
      displayName
      administrator
      userState: state
      createdAt
      lastSignInAt
      memberships { role project { id name } }
    }
  }
}
`;
  return `/graphql?query=${encodeURIComponent(query)}`;
}

// ---- audit trail -------------------------------------------------------------------------

const EVENT_FIELDS = `id at action outcome reason requestId clientAddress
  actorKind actorKeyId actorAccessKey actorRole actorUserId actorUsername
  projectId project { id name }
  targetKeyId targetAccessKey targetUserId targetUsername targetProvider targetGroup newKeyId`;

const EVENT_PAGE = `totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { ${EVENT_FIELDS} } }`;

const EVENT_ARGUMENTS = `first: $first, after: $after, action: $action, keyId: $keyId, since: $since, until: $until`;
const EVENT_PARAMETERS = `$first: Int!, $after: String, $action: AuditAction, $keyId: ID, $since: DateTime, $until: DateTime`;

/** A page of a project's audit trail (with the project, for the page around it). */
export const PROJECT_AUDIT = `query ConsoleProjectAudit($id: ID, ${EVENT_PARAMETERS}) {
  viewer { ${VIEWER_FIELDS} }
  project(id: $id) {
    ${PROJECT_FIELDS}
    auditEvents(${EVENT_ARGUMENTS}) {
      ${EVENT_PAGE}
    }
  }
}`;

/** A page of the whole audit trail (administrators). */
export const AUDIT = `query ConsoleAudit(${EVENT_PARAMETERS}) {
  viewer { ${VIEWER_FIELDS} }
  auditEvents(${EVENT_ARGUMENTS}) {
    ${EVENT_PAGE}
  }
}`;

/** The actions an event may record, from the schema itself (names and descriptions). */
export const AUDIT_ACTIONS = `query ConsoleAuditActions {
  __type(name: "AuditAction") { enumValues { name description } }
}`;

/** A project's first keys, for the audit trail's key filter. */
export const PROJECT_KEY_CHOICES = `query ConsoleProjectKeyChoices($id: ID, $first: Int!) {
  project(id: $id) {
    id
    apiKeys(first: $first) { totalCount edges { node { id name accessKey state } } }
  }
}`;

/** One key with its project, for the key's own page. */
export const PROJECT_KEY = `query ConsoleProjectKey($project: ID, $key: ID!) {
  viewer { ${VIEWER_FIELDS} }
  project(id: $project) { ${PROJECT_FIELDS} }
  key: node(id: $key) {
    ... on ApiKey {
      ${KEY_FIELDS}
      project { id }
      recentClients { address userAgent lastSeenAt }
      rotatedTo { id name accessKey }
      rotatedFrom { id name accessKey }
    }
  }
}`;

// ---- usage ------------------------------------------------------------------------------------

const USAGE_BUCKET_FIELDS = `start accepted refused forbidden throttled`;

/** The usage of a project or a key (by id), from `since` to now (buckets without counts left out). */
export const USAGE = `query ConsoleUsage($id: ID!, $since: DateTime!, $granularity: UsageGranularity!) {
  node(id: $id) {
    ... on Project { id usage(since: $since, granularity: $granularity) { ${USAGE_BUCKET_FIELDS} } }
    ... on ApiKey { id usage(since: $since, granularity: $granularity) { ${USAGE_BUCKET_FIELDS} } }
  }
}`;

// ---- webhooks ---------------------------------------------------------------------------------

const WEBHOOK_FIELDS = `id url description actions enabled disabledAt failingSince createdAt updatedAt`;

export const PROJECT_WEBHOOKS = `query ConsoleProjectWebhooks($id: ID) {
  viewer { ${VIEWER_FIELDS} }
  project(id: $id) {
    ${PROJECT_FIELDS}
    webhooks { ${WEBHOOK_FIELDS} }
  }
}`;

export const WEBHOOK_DELIVERIES = `query ConsoleWebhookDeliveries($id: ID!, $first: Int!, $after: String) {
  webhook: node(id: $id) {
    ... on Webhook {
      id
      deliveries(first: $first, after: $after) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges {
          node {
            id eventId messageId attempts lastStatus lastError
            createdAt deliveredAt failedAt nextAttemptAt
            event { id at action outcome }
          }
        }
      }
    }
  }
}`;

export const CREATE_WEBHOOK = `mutation ConsoleCreateWebhook($input: CreateWebhookInput!) {
  createWebhook(input: $input) { signingSecret webhook { ${WEBHOOK_FIELDS} } }
}`;

export const UPDATE_WEBHOOK = `mutation ConsoleUpdateWebhook($input: UpdateWebhookInput!) {
  updateWebhook(input: $input) { webhook { ${WEBHOOK_FIELDS} } }
}`;

export const DELETE_WEBHOOK = `mutation ConsoleDeleteWebhook($input: DeleteWebhookInput!) {
  deleteWebhook(input: $input) { deletedWebhookId }
}`;

export const REDELIVER_WEBHOOK_EVENT = `mutation ConsoleRedeliverWebhookEvent($input: RedeliverWebhookEventInput!) {
  redeliverWebhookEvent(input: $input) { delivery { id attempts nextAttemptAt } }
}`;
