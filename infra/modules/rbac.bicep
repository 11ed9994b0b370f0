// The data-plane roles the app's identity needs, and no more:
//   Storage Blob Data Owner               host storage, timer singleton lock, Flex deployment package
//   Storage Table Data Contributor        snapshot tables and host diagnostic events
//   Storage Queue Data Reader             queue triggers: see the queues and their length (also for scaling)
//   Storage Queue Data Message Processor  queue triggers: receive and delete (complete) messages
//   Storage Queue Data Message Sender     the timers' fan-out (snapshot/queues.py), and the host moving a failed
//                                         message to its -poison queue
//   Monitoring Metrics Publisher          App Insights ingestion with Entra auth (local auth is disabled)
// Queues, least privilege: the identity-based connections table of "Azure Queue storage trigger and bindings for
// Azure Functions" names Reader + Message Processor for a trigger, and Message Sender (or Contributor) for sending.
// Not Storage Queue Data Contributor (974c5e8b-...): beyond these it creates, deletes and changes queues, which
// nothing needs. storage.bicep creates every queue, poison queues included, and the host keeps its own state in
// blobs (no blob trigger, no Durable Functions here). So the app must not create queues: Create Queue needs the
// queues/write action, which these roles lack (an existing queue answers 403 then, not 409).
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
  storageQueueDataReader: '19e7f393-937e-4f77-808e-94535e297925'
  storageQueueDataMessageProcessor: '8a0f0c08-91a1-4084-bc3d-661d67233fed'
  storageQueueDataMessageSender: 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

// On the storage account (all its queues: the four of storage.bicep, the same for every role).
var storageRoleIds = [
  roleIds.storageBlobDataOwner
  roleIds.storageTableDataContributor
  roleIds.storageQueueDataReader
  roleIds.storageQueueDataMessageProcessor
  roleIds.storageQueueDataMessageSender
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
