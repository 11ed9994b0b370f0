// Microsoft Graph permissions for the snapshot service. A separate deployment from main.bicep because it
// needs an Entra admin (Global Administrator, or Privileged Role Administrator + Application Administrator:
// the Graph calls made on the deployer's behalf need AppRoleAssignment.ReadWrite.All and Application.ReadWrite.All):
//   az deployment group create -g <rg> -f infra/graph-permissions.bicep -p functionAppPrincipalId=<id>
//
// 1. The app's managed identity gets ConfigurationMonitoring.ReadWrite.All (createSnapshot, list, get, delete).
//    Not in a customer tenant (tenancy=multi): there admin consent has granted it to the app registration's
//    service principal already, so functionAppPrincipalId stays empty (infra/README.md, "Onboarding a customer tenant").
// 2. The UTCM service principal (appId 03b07b79-c5bc-4b5e-9bfa-13acf4a99998), which does the reading, and the
//    M365 Admin Services service principal (appId 6b91db1b-f05b-405a-a0b2-e3f60b28d645), which UTCM also needs
//    in the tenant, are created if absent (https://learn.microsoft.com/graph/utcm-authentication-setup).
// 3. The UTCM service principal gets the READ permissions of the chosen workloads only, as each resource
//    type's "Permissions" section names them (https://learn.microsoft.com/graph/utcm-supported-resourcetypes).
// Some workloads also need an Entra directory role for the UTCM principal. The Graph Bicep extension has no
// directory role assignment type, so that step is a command in infra/README.md; the output
// utcmDirectoryRoles lists exactly the roles to assign.

// The extension version is set in infra/bicepconfig.json (microsoftgraph/v1.0:1.0.0). It is restored from
// mcr.microsoft.com at build time (https://aka.ms/graphbicep, microsoftgraph/msgraph-bicep-types).
// Needs Bicep CLI 0.36.1 or later (CI pins the version).
extension microsoftGraphV1

@description('Object (principal) id of the function app\'s managed identity: the functionAppPrincipalId output of main.bicep. Empty in a customer tenant (tenancy=multi), where admin consent grants the app its permission: then only the UTCM steps run.')
param functionAppPrincipalId string = ''

@description('Workloads whose configuration UTCM may read (snapshot). Least privilege: only Entra by default.')
@allowed([
  'Entra'
  'Intune'
  'Teams'
  'Exchange'
  'SecurityAndCompliance'
])
param workloads array = [
  'Entra'
]

@description('Extra Microsoft Graph application permissions for the UTCM service principal, for resource types that need more than the workload defaults (e.g. CustomSecAttributeDefinition.Read.All for microsoft.entra.conditionalAccessPolicy).')
param additionalUtcmGraphRoles array = []

var graphAppId = '00000003-0000-0000-c000-000000000000' // Microsoft Graph
var exchangeOnlineAppId = '00000002-0000-0ff1-ce00-000000000000' // Office 365 Exchange Online
var utcmAppId = '03b07b79-c5bc-4b5e-9bfa-13acf4a99998' // Unified Tenant Configuration Management
var m365AdminServicesAppId = '6b91db1b-f05b-405a-a0b2-e3f60b28d645' // M365 Admin Services

// What the app itself calls: createSnapshot and the configurationSnapshotJobs reads and deletes.
var appGraphRole = 'ConfigurationMonitoring.ReadWrite.All'

// Microsoft Graph READ permissions the UTCM service principal needs per workload (the per-type
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
  Teams: [
    'Organization.Read.All'
  ]
  // Exchange and Security & Compliance read through Exchange Online (Exchange.ManageAsApp, below).
  Exchange: []
  SecurityAndCompliance: []
}

// Entra directory roles the UTCM service principal needs per workload to read; role template ids are the
// same in every tenant (https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference).
var utcmDirectoryRolesByWorkload = {
  Entra: []
  Intune: []
  // Teams Reader reads everything in the Teams admin center and nothing else: narrower than Global Reader.
  Teams: [
    {
      displayName: 'Teams Reader'
      roleTemplateId: '1076ac91-f3d9-41a7-a339-dcdf5f480acc'
    }
  ]
  // microsoft.exchange.* pages: Global Reader to read.
  Exchange: [
    {
      displayName: 'Global Reader'
      roleTemplateId: 'f2ef992c-3afb-46b9-b7cf-a126ee74c451'
    }
  ]
  // microsoft.securityAndCompliance.* pages: Security Reader to read (a few types, e.g. complianceTag,
  // name Compliance Administrator even to read: see infra/README.md).
  SecurityAndCompliance: [
    {
      displayName: 'Security Reader'
      roleTemplateId: '5d6b6bb7-de71-4623-b4af-96380a352509'
    }
  ]
}

// union() also drops duplicates.
var utcmGraphRoles = union(flatten(map(workloads, workload => utcmGraphRolesByWorkload[workload])), additionalUtcmGraphRoles)
var utcmDirectoryRoles = union(flatten(map(workloads, workload => utcmDirectoryRolesByWorkload[workload])), [])

// Exchange.ManageAsApp on Office 365 Exchange Online, for the Exchange and Security & Compliance workloads.
var exchangeRole = 'Exchange.ManageAsApp'
var grantExchange = contains(workloads, 'Exchange') || contains(workloads, 'SecurityAndCompliance')

resource graphSp 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: graphAppId
}

resource appConfigurationMonitoring 'Microsoft.Graph/appRoleAssignedTo@v1.0' = if (!empty(functionAppPrincipalId)) {
  principalId: functionAppPrincipalId
  resourceId: graphSp.id
  appRoleId: filter(graphSp.appRoles, role => role.value == appGraphRole)[0].id
}

// Declaring a service principal by appId creates it when the tenant does not have it yet (idempotent).
resource utcmSp 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: utcmAppId
}

// UTCM's setup page: the M365 Admin Services service principal must also exist in the tenant.
resource m365AdminServicesSp 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: m365AdminServicesAppId
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
  resourceId: exchangeSp!.id
  appRoleId: filter(exchangeSp!.appRoles, role => role.value == exchangeRole)[0].id
}

@description('Object id of the UTCM service principal: assign it the utcmDirectoryRoles (infra/README.md).')
output utcmServicePrincipalId string = utcmSp.id

@description('Object id of the M365 Admin Services service principal.')
output m365AdminServicesServicePrincipalId string = m365AdminServicesSp.id

@description('Microsoft Graph application permissions granted to the UTCM service principal.')
output utcmGraphRoles array = utcmGraphRoles

@description('Entra directory roles ({displayName, roleTemplateId}) to assign to the UTCM service principal, as infra/README.md shows: Bicep cannot.')
output utcmDirectoryRoles array = utcmDirectoryRoles
