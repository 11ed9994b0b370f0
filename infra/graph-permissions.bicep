// Microsoft Graph permissions for the snapshot service. A separate deployment from main.bicep because it
// needs an Entra admin (Global Administrator, or Privileged Role Administrator + Application Administrator:
// the Graph calls made on the deployer's behalf need AppRoleAssignment.ReadWrite.All and Application.ReadWrite.All):
//   az deployment group create -g <rg> -f infra/graph-permissions.bicep -p functionAppPrincipalId=<id>
//
// 1. The app's managed identity gets ConfigurationMonitoring.ReadWrite.All (createSnapshot, list, get, delete).
// 2. The UTCM service principal (appId 03b07b79-c5bc-4b5e-9bfa-13acf4a99998), which does the reading, is
//    created if absent and gets the READ permissions of the chosen workloads only.
// Some workloads also need an Entra directory role for the UTCM principal (Teams, Exchange: Global Reader).
// The Graph Bicep extension has no directory role assignment type, so that step is a command in
// infra/README.md; the output utcmDirectoryRoleNeeded says whether it is needed.

// The extension version is set in infra/bicepconfig.json (microsoftgraph/v1.0:1.0.0). It is restored from
// mcr.microsoft.com at build time: CHECK it is still the current one before relying on it
// (https://aka.ms/graphbicep, microsoftgraph/msgraph-bicep-types). Needs Bicep CLI 0.36.1 or later.
extension microsoftGraphV1

@description('Object (principal) id of the function app\'s managed identity: the functionAppPrincipalId output of main.bicep.')
param functionAppPrincipalId string

@description('Workloads whose configuration UTCM may read (snapshot). Least privilege: only Entra by default. Allowed: Entra, Intune, Teams, Exchange.')
@allowed([
  'Entra'
  'Intune'
  'Teams'
  'Exchange'
])
param workloads array = [
  'Entra'
]

@description('Extra Microsoft Graph application permissions for the UTCM service principal, for resource types that need more than the workload defaults (e.g. CustomSecAttributeDefinition.Read.All for microsoft.entra.conditionalAccessPolicy).')
param additionalUtcmGraphRoles array = []

var graphAppId = '00000003-0000-0000-c000-000000000000' // Microsoft Graph
var exchangeOnlineAppId = '00000002-0000-0ff1-ce00-000000000000' // Office 365 Exchange Online
var utcmAppId = '03b07b79-c5bc-4b5e-9bfa-13acf4a99998' // Unified Tenant Configuration Management

// What the app itself calls: createSnapshot and the configurationSnapshotJobs reads and deletes.
var appGraphRole = 'ConfigurationMonitoring.ReadWrite.All'

// READ permissions the UTCM service principal needs per workload (utcm-api.md 5.2; the per-type
// "Permissions" sections of the UTCM docs). Some Entra types need more: use additionalUtcmGraphRoles.
var utcmGraphRolesByWorkload = {
  Entra: [
    'Policy.Read.All'
    'Application.Read.All'
    'Group.Read.All'
    'User.Read.All'
    'RoleManagement.Read.Directory'
    'Agreement.Read.All'
  ]
  Intune: [
    'DeviceManagementConfiguration.Read.All'
    'DeviceManagementManagedDevices.Read.All'
    'DeviceManagementApps.Read.All'
    'DeviceManagementRBAC.Read.All'
    'DeviceManagementServiceConfig.Read.All'
  ]
  // Teams also needs the Global Reader directory role (see infra/README.md).
  Teams: [
    'Organization.Read.All'
  ]
  // Exchange reads with Exchange.ManageAsApp on Exchange Online (below) + Global Reader (infra/README.md).
  Exchange: []
}

// union() also drops duplicates.
var utcmGraphRoles = union(flatten(map(workloads, workload => utcmGraphRolesByWorkload[workload])), additionalUtcmGraphRoles)

// Exchange.ManageAsApp on Office 365 Exchange Online (app role id dc50a0fb-09a3-484d-be87-e023b12c6440).
var exchangeRole = 'Exchange.ManageAsApp'
var grantExchange = contains(workloads, 'Exchange')

// Global Reader (role template id f2ef992c-3afb-46b9-b7cf-a126ee74c451) is needed for Teams and Exchange.
var directoryRoleNeeded = contains(workloads, 'Teams') || contains(workloads, 'Exchange')

resource graphSp 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: graphAppId
}

resource appConfigurationMonitoring 'Microsoft.Graph/appRoleAssignedTo@v1.0' = {
  principalId: functionAppPrincipalId
  resourceId: graphSp.id
  appRoleId: filter(graphSp.appRoles, role => role.value == appGraphRole)[0].id
}

// Declaring the service principal by appId creates it when the tenant does not have it yet (idempotent).
resource utcmSp 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: utcmAppId
}

resource utcmGraphGrants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [
  for roleName in utcmGraphRoles: {
    principalId: utcmSp.id
    resourceId: graphSp.id
    appRoleId: filter(graphSp.appRoles, role => role.value == roleName)[0].id
  }
]

resource exchangeSp 'Microsoft.Graph/servicePrincipals@v1.0' existing = if (grantExchange) {
  appId: exchangeOnlineAppId
}

resource utcmExchangeGrant 'Microsoft.Graph/appRoleAssignedTo@v1.0' = if (grantExchange) {
  principalId: utcmSp.id
  resourceId: exchangeSp.id
  appRoleId: filter(exchangeSp.appRoles, role => role.value == exchangeRole)[0].id
}

@description('Object id of the UTCM service principal (for the Global Reader role assignment, if needed).')
output utcmServicePrincipalId string = utcmSp.id

@description('Microsoft Graph application permissions granted to the UTCM service principal.')
output utcmGraphRoles array = utcmGraphRoles

@description('True when the chosen workloads need the Global Reader directory role on the UTCM service principal (Teams, Exchange): assign it as infra/README.md shows.')
output utcmDirectoryRoleNeeded bool = directoryRoleNeeded
