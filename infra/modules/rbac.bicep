// The data-plane roles the app's identity needs, and no more:
//   Storage Blob Data Owner        host storage, timer singleton lock, Flex deployment package
//   Storage Table Data Contributor snapshot tables and host diagnostic events
//   Monitoring Metrics Publisher   App Insights ingestion with Entra auth (local auth is disabled)
// Role assignments are named guid(scope, principal, role), so re-deploying never duplicates them.

@description('Object (principal) id of the app\'s managed identity.')
param principalId string

@description('Name of the storage account the app uses.')
param storageAccountName string

@description('Name of the Application Insights component the app sends telemetry to.')
param applicationInsightsName string

@description('Optional object id of the deploying user (or group / service principal) to grant the storage data roles, e.g. to run the app locally against Azure storage. Empty: none.')
param deployerPrincipalId string = ''

@description('Principal type of deployerPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param deployerPrincipalType string = 'User'

// Built-in role definition ids (the same in every tenant).
var roleIds = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

var storageRoleIds = [
  roleIds.storageBlobDataOwner
  roleIds.storageTableDataContributor
]

// The deployer gets the storage data roles only when deployerPrincipalId is set.
var deployerStorageRoleIds = empty(deployerPrincipalId) ? [] : storageRoleIds

resource storage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource appStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in storageRoleIds: {
    name: guid(storage.id, principalId, roleId)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource appMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, principalId, roleIds.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource deployerStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in deployerStorageRoleIds: {
    name: guid(storage.id, deployerPrincipalId, roleId)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: deployerPrincipalId
      principalType: deployerPrincipalType
    }
  }
]
