// Tenant snapshot service: everything the function app needs, in one resource group.
//   az deployment group create -g <rg> -f infra/main.bicep -p infra/main.bicepparam    (or: azd provision)
// Microsoft Graph permissions are a separate deployment (graph-permissions.bicep): they need an Entra admin.
// Hand-written resources only (no registry modules), so this file builds offline.
targetScope = 'resourceGroup'

@description('Name of the environment (e.g. dev, prod; azd passes AZURE_ENV_NAME). Part of every resource name.')
@minLength(1)
@maxLength(20)
param environmentName string

@description('Azure region of every resource. Defaults to the resource group\'s region.')
param location string = resourceGroup().location

@description('Tags applied to every resource.')
param tags object = {}

@description('SystemAssigned (default) or UserAssigned: the managed identity the function app uses. UserAssigned also sets AZURE_CLIENT_ID and AzureWebJobsStorage__clientId.')
@allowed([
  'SystemAssigned'
  'UserAssigned'
])
param identityType string = 'SystemAssigned'

@description('App settings read by snapshot/settings.py to override, by name (e.g. {SNAPSHOT_POLL_SCHEDULE: \'0 */5 * * * *\'}). Merged over snapshotSettingDefaults; values are strings.')
param snapshotSettings object = {}

@description('Optional object id of the deploying user to grant storage data roles (to run the app locally against Azure storage). Empty (default): none.')
param deployerPrincipalId string = ''

@description('Principal type of deployerPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param deployerPrincipalType string = 'User'

@description('Most instances the Flex Consumption app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each Flex Consumption instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Days the Log Analytics workspace keeps data.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

// Every app setting snapshot/settings.py reads (SETTING_NAMES), with the defaults of settings.py.
// A new setting is one line here; tests/test_infra.py fails when a name in SETTING_NAMES has neither
// a line here nor a default in Settings. AZURE_CLIENT_ID is set by functionapp.bicep for UserAssigned.
var snapshotSettingDefaults = {
  GRAPH_BASE_URL: 'https://graph.microsoft.com/v1.0'
  GRAPH_SCOPE: 'https://graph.microsoft.com/.default'
  SNAPSHOT_STORAGE: 'AzureWebJobsStorage'
  SNAPSHOT_TABLE_PREFIX: 'Snapshot'
  SNAPSHOT_POLL_SCHEDULE: '0 */1 * * * *'
  SNAPSHOT_RETRY_AFTER_SECONDS: '20'
  SNAPSHOT_MAX_CONTENT_BYTES: '536870912'
  SNAPSHOT_PRUNE_STORED_JOBS: 'true'
  SNAPSHOT_MONTHLY_RESOURCE_QUOTA: '20000'
  SNAPSHOT_CALLBACK_ALLOWED_HOSTS: '*.logic.azure.com'
}
var appSnapshotSettings = union(snapshotSettingDefaults, snapshotSettings)

// The tables of settings.py (jobs_table, resources_table, ...): {prefix}<suffix>. One line per table.
var snapshotTableSuffixes = [
  'Jobs'
  'Resources'
  'Idempotency'
  'Quota'
]
var snapshotTableNames = [for suffix in snapshotTableSuffixes: '${appSnapshotSettings.SNAPSHOT_TABLE_PREFIX}${suffix}']

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var names = {
  storage: 'st${resourceToken}'
  deploymentContainer: 'app-package-${resourceToken}'
  logAnalytics: 'log-${environmentName}-${resourceToken}'
  applicationInsights: 'appi-${environmentName}-${resourceToken}'
  plan: 'plan-${environmentName}-${resourceToken}'
  functionApp: 'func-${environmentName}-${resourceToken}'
  identity: 'id-${environmentName}-${resourceToken}'
}
var allTags = union(tags, {
  'azd-env-name': environmentName
})

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: names.storage
    location: location
    tags: allTags
    deploymentContainerName: names.deploymentContainer
    tableNames: snapshotTableNames
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
    location: location
    tags: allTags
    retentionInDays: logRetentionInDays
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    // azd deploy finds the app to deploy service 'api' (azure.yaml) by this tag.
    tags: union(allTags, {
      'azd-service-name': 'api'
    })
    identityType: identityType
    userAssignedIdentityName: names.identity
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    snapshotSettings: appSnapshotSettings
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  params: {
    principalId: functionApp.outputs.principalId
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    deployerPrincipalId: deployerPrincipalId
    deployerPrincipalType: deployerPrincipalType
  }
}

@description('Name of the function app.')
output functionAppName string = functionApp.outputs.name

@description('Base URL of the function app; the API is under /api.')
output functionAppUrl string = 'https://${functionApp.outputs.defaultHostName}'

@description('Object id of the app\'s managed identity: pass it to graph-permissions.bicep as functionAppPrincipalId.')
output functionAppPrincipalId string = functionApp.outputs.principalId

@description('Name of the storage account.')
output storageAccountName string = storage.outputs.name

@description('Name of the Application Insights component.')
output applicationInsightsName string = monitoring.outputs.applicationInsightsName
