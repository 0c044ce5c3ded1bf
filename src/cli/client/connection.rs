//! Where the server is and who the client is: `--url` / `KEYWARD_URL`, and
//! credentials from the environment only — an access key and secret key,
//! or a username and password — because a command line's arguments are
//! visible to every user of the machine (`ps`), its environment is not.
//!
//! Every request is one GraphQL POST to `<url>/graphql` with the
//! credentials as HTTP Basic, as the API documents for keys and people
//! alike.

use std::fmt;

use serde_json::{Value, json};

use super::ClientError;

/// The environment variables credentials are read from.
pub const ACCESS_KEY: &str = "KEYWARD_ACCESS_KEY";
pub const SECRET_KEY: &str = "KEYWARD_SECRET_KEY";
pub const USERNAME: &str = "KEYWARD_USERNAME";
pub const PASSWORD: &str = "KEYWARD_PASSWORD";

/// Who the client says it is. Its `Debug` never shows the secret half.
pub enum Credentials {
    /// No credentials: the server answers as to anyone (which works only
    /// while its access control is off).
    None,
    ApiKey {
        access_key: String,
        secret: String,
    },
    User {
        username: String,
        password: String,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::ApiKey { access_key, .. } => f
                .debug_struct("ApiKey")
                .field("access_key", access_key)
                .finish_non_exhaustive(),
            Self::User { username, .. } => f
                .debug_struct("User")
                .field("username", username)
                .finish_non_exhaustive(),
        }
    }
}

impl Credentials {
    /// Reads the credentials from the environment: one complete pair, or
    /// none at all.
    pub fn from_env() -> Result<Self, ClientError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ClientError> {
        let (access_key, secret) = (lookup(ACCESS_KEY), lookup(SECRET_KEY));
        let (username, password) = (lookup(USERNAME), lookup(PASSWORD));
        let key_set = access_key.is_some() || secret.is_some();
        let user_set = username.is_some() || password.is_some();
        if key_set && user_set {
            return Err(ClientError::Usage(format!(
                "set either {ACCESS_KEY} and {SECRET_KEY}, or {USERNAME} and {PASSWORD}, not both"
            )));
        }
        match (access_key, secret, username, password) {
            (Some(access_key), Some(secret), _, _) => Ok(Self::ApiKey { access_key, secret }),
            (_, _, Some(username), Some(password)) => Ok(Self::User { username, password }),
            _ if key_set => Err(ClientError::Usage(format!(
                "{ACCESS_KEY} and {SECRET_KEY} go together: set both"
            ))),
            _ if user_set => Err(ClientError::Usage(format!(
                "{USERNAME} and {PASSWORD} go together: set both"
            ))),
            _ => Ok(Self::None),
        }
    }

    fn basic(&self) -> Option<(&str, &str)> {
        match self {
            Self::None => None,
            Self::ApiKey { access_key, secret } => Some((access_key, secret)),
            Self::User { username, password } => Some((username, password)),
        }
    }

    /// Whether any credentials are configured.
    pub fn is_some(&self) -> bool {
        !matches!(self, Self::None)
    }
}

/// A server and the credentials to speak to it with.
#[derive(Debug)]
pub struct Connection {
    http: reqwest::Client,
    endpoint: url::Url,
    credentials: Credentials,
}

impl Connection {
    /// `url` is the server's base URL (`http://127.0.0.1:8080`); a URL
    /// carrying a user or password is refused, since it would be on the
    /// command line.
    pub fn new(url: &str, credentials: Credentials) -> Result<Self, ClientError> {
        let base = url::Url::parse(url)
            .map_err(|err| ClientError::Usage(format!("--url {url}: {err}")))?;
        if !base.username().is_empty() || base.password().is_some() {
            return Err(ClientError::Usage(format!(
                "--url: put no credentials in the URL; set {ACCESS_KEY} and {SECRET_KEY}, \
                 or {USERNAME} and {PASSWORD}, in the environment"
            )));
        }
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ClientError::Usage(format!(
                "--url {url}: the server's URL starts with http:// or https://"
            )));
        }
        let mut endpoint = base;
        endpoint
            .path_segments_mut()
            .map_err(|()| ClientError::Usage(format!("--url {url}: not a server's URL")))?
            .pop_if_empty()
            .push("graphql");
        let http = reqwest::Client::builder()
            .user_agent(concat!("keyward-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| ClientError::Unreachable(err.to_string()))?;
        Ok(Self {
            http,
            endpoint,
            credentials,
        })
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Runs one GraphQL operation and returns its `data`, or the first
    /// error the server gave (its code and message).
    pub async fn request(&self, query: &str, variables: Value) -> Result<Value, ClientError> {
        let mut request = self
            .http
            .post(self.endpoint.clone())
            .json(&json!({ "query": query, "variables": variables }));
        if let Some((user, secret)) = self.credentials.basic() {
            request = request.basic_auth(user, Some(secret));
        }
        // `without_url`: the endpoint is the user's, but an error's text is
        // all this needs (and a URL could carry a query string).
        let response = request.send().await.map_err(|err| {
            ClientError::Unreachable(format!("{}: {}", self.endpoint, err.without_url()))
        })?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|_| {
            ClientError::Protocol(format!(
                "{} answered HTTP {status} without a GraphQL response: is it keyward?",
                self.endpoint
            ))
        })?;
        if let Some(error) = body["errors"].as_array().and_then(|errors| errors.first()) {
            return Err(ClientError::Refused {
                code: error["extensions"]["code"]
                    .as_str()
                    .unwrap_or("ERROR")
                    .to_owned(),
                message: error["message"].as_str().unwrap_or_default().to_owned(),
            });
        }
        match body.get("data") {
            Some(data) if !data.is_null() => Ok(data.clone()),
            _ => Err(ClientError::Protocol(format!(
                "{} answered HTTP {status} with neither data nor errors",
                self.endpoint
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Credentials, ClientError> {
        Credentials::from_lookup(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn credentials_are_one_complete_pair_or_none() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "None"),
            (&[(ACCESS_KEY, "AK"), (SECRET_KEY, "s3cret")], "ApiKey"),
            (&[(USERNAME, "admin"), (PASSWORD, "pa55word")], "User"),
            (&[(ACCESS_KEY, "AK")], "go together"),
            (&[(SECRET_KEY, "s3cret")], "go together"),
            (&[(PASSWORD, "pa55word")], "go together"),
            (
                &[
                    (ACCESS_KEY, "AK"),
                    (SECRET_KEY, "s3cret"),
                    (USERNAME, "admin"),
                    (PASSWORD, "pa55word"),
                ],
                "not both",
            ),
            (
                &[
                    (ACCESS_KEY, "AK"),
                    (USERNAME, "admin"),
                    (PASSWORD, "pa55word"),
                ],
                "not both",
            ),
        ];
        for (pairs, expected) in cases {
            let said = match read(pairs) {
                Ok(credentials) => format!("{credentials:?}"),
                Err(err) => err.to_string(),
            };
            assert!(said.contains(expected), "{pairs:?}: {said}");
            assert!(
                !said.contains("s3cret") && !said.contains("pa55word"),
                "{said}"
            );
        }
    }

    #[test]
    fn the_endpoint_is_the_base_urls_graphql_and_credentials_in_it_are_refused() {
        for (url, endpoint) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/graphql"),
            ("https://keys.example/", "https://keys.example/graphql"),
            (
                "https://example.org/keyward/",
                "https://example.org/keyward/graphql",
            ),
        ] {
            let connection = Connection::new(url, Credentials::None).unwrap();
            assert_eq!(connection.endpoint.as_str(), endpoint);
        }
        for url in ["http://admin:pw@127.0.0.1:8080", "ftp://x", "not a url"] {
            assert!(matches!(
                Connection::new(url, Credentials::None),
                Err(ClientError::Usage(_))
            ));
        }
    }
}
