// Every GraphQL document the console sends (see /schema.graphql).

export const INIT = `query ConsoleInit {
  accessControl { enabled }
  viewer {
    kind
    role
    apiKey { id name accessKey }
    project { id name }
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
  lastUsedAt expiresAt expiresSoon failedAuthCount lastFailedAuthAt rotatedAt`;

export const PROJECT_KEYS = `query ConsoleProjectKeys($id: ID, $first: Int!, $after: String, $state: KeyState) {
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
      project { id name }
    }
  }
}
`;
  return `/graphql?query=${encodeURIComponent(query)}`;
}
