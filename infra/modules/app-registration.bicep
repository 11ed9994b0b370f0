// The multi-tenant app registration of tenancy=multi (main.bicep deploys it only then). Customer tenants consent
// to this app; the function app reaches them as this app, with its user-assigned managed identity as the app's
// only credential (a federated identity credential: no secret, no certificate, nothing to rotate or leak).
// The app code exchanges the identity's token (audience api://AzureADTokenExchange) for a token of this app in
// the customer tenant (client assertion), as "Configure an application to trust a managed identity" describes:
// https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity
//
// Graph calls are made on the deployer's behalf: creating an app registration needs Application.ReadWrite.All
// (Application Developer, Cloud Application Administrator or Application Administrator; see infra/README.md).

// The same extension as graph-permissions.bicep (its version pinned in infra/bicepconfig.json).
extension microsoftGraphV1

@description('Unique name of the app registration: its key for the Graph extension, so redeploying updates the same registration (immutable once created).')
param uniqueName string

@description('Display name of the app registration: customer admins see it on the consent page and under Enterprise applications.')
param displayName string

@description('Object (principal) id of the function app\'s user-assigned managed identity: the subject of the federated credential. A system-assigned identity cannot be used: it exists only once the site does and is replaced with it.')
param managedIdentityPrincipalId string

var graphAppId = '00000003-0000-0000-c000-000000000000' // Microsoft Graph

// The one permission the app asks customer tenants for, as in graph-permissions.bicep: createSnapshot and the
// configurationSnapshotJobs reads and deletes. UTCM itself reads the workloads (its own service principal).
var appGraphRole = 'ConfigurationMonitoring.ReadWrite.All'

// Application permission ids are looked up on the Graph service principal by name (as graph-permissions.bicep
// does) rather than copied as GUIDs.
resource graphSp 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: graphAppId
}

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  // Any Entra tenant may consent (no personal accounts: UTCM and app-only Graph need an organization).
  signInAudience: 'AzureADMultipleOrgs'
  // What admin consent in a customer tenant grants: one application permission (Role), no delegated scope.
  requiredResourceAccess: [
    {
      resourceAppId: graphAppId
      resourceAccess: [
        {
          id: filter(graphSp.appRoles, role => role.value == appGraphRole)[0].id
          type: 'Role'
        }
      ]
    }
  ]

  // The managed identity is the app's credential. Issuer and subject as the Learn page above gives them for a
  // managed identity: https://login.microsoftonline.com/{tenantId}/v2.0 and the identity's object (principal) id.
  // The audience is the public cloud's; the app sends the same (SNAPSHOT_TOKEN_EXCHANGE_AUDIENCE, default
  // api://AzureADTokenExchange). An app takes at most 20 federated credentials: one per deployment here.
  resource managedIdentityCredential 'federatedIdentityCredentials@v1.0' = {
    name: '${app.uniqueName}/snapshot-managed-identity'
    description: 'The snapshot function app\'s user-assigned managed identity authenticates as this app.'
    issuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
    subject: managedIdentityPrincipalId
    audiences: [
      'api://AzureADTokenExchange'
    ]
  }
}

// The app's service principal in the home tenant, so the home tenant can consent (and the app shows under
// Enterprise applications there). Customer tenants get theirs from admin consent.
resource appSp 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
}

@description('Application (client) id of the app registration: the app setting SNAPSHOT_APP_CLIENT_ID and the client_id of the admin consent URL.')
output appClientId string = app.appId

@description('Object id of the app\'s service principal in the home tenant.')
output servicePrincipalId string = appSp.id
