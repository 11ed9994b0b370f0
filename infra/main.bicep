// Tenant snapshot service: everything the function app needs, in one resource group.
//   az deployment group create -g <rg> -f infra/main.bicep -p infra/main.bicepparam    (or: azd provision)
// Microsoft Graph permissions are a separate deployment (graph-permissions.bicep): they need an Entra admin.
// Hand-written resources only (no registry modules), so this file builds offline.
targetScope = 'resourceGroup'

@description('Name of the environment (azd passes AZURE_ENV_NAME: letters, digits, -, _, ., ( and )). Sanitized into every resource name.')
@minLength(1)
@maxLength(64)
param environmentName string

// Regions that offer Flex Consumption, as listed by the Flex Consumption quickstarts and
// `az functionapp list-flexconsumption-locations` (https://learn.microsoft.com/azure/azure-functions/flex-consumption-how-to#view-currently-supported-regions).
// The metadata makes azd offer these regions in its location prompt.
@description('Azure region of every resource: one that offers Flex Consumption. Defaults to the resource group\'s region.')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string = resourceGroup().location

@description('Tags applied to every resource.')
param tags object = {}

@description('UserAssigned (default) or SystemAssigned: the managed identity the function app uses. A user-assigned identity and its roles exist before the site and the first package upload; it also sets AZURE_CLIENT_ID and AzureWebJobsStorage__clientId.')
@allowed([
  'UserAssigned'
  'SystemAssigned'
])
param identityType string = 'UserAssigned'

@description('App settings read by snapshot/settings.py to override, by name (e.g. {SNAPSHOT_POLL_SCHEDULE: \'0 */5 * * * *\'}). Merged over snapshotSettingDefaults; values are strings.')
param snapshotSettings object = {}

@description('Optional object id of the deploying user to grant storage data roles (to run the app locally against Azure storage); main.bicepparam reads azd\'s AZURE_PRINCIPAL_ID. Empty: none.')
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
// A new setting is one line here; tests/infra/test_settings_parity.py fails when a name in SETTING_NAMES has neither
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
  SNAPSHOT_PRUNE_SCOPE: 'own'
  SNAPSHOT_MONTHLY_RESOURCE_QUOTA: '20000'
  SNAPSHOT_CALLBACK_ALLOWED_HOSTS: '*.logic.azure.com'
  SNAPSHOT_DRIFT_POLL_SCHEDULE: '0 15 0,6,12,18 * * *'
}
var appSnapshotSettings = union(snapshotSettingDefaults, snapshotSettings)

// The tables of settings.py (jobs_table, resources_table, ...): {prefix}<suffix>. One line per table.
var snapshotTableSuffixes = [
  'Jobs'
  'Resources'
  'Idempotency'
  'Quota'
  'Monitors'
  'Drifts'
  'Runs'
  'Tenants'
]
var snapshotTableNames = [for suffix in snapshotTableSuffixes: '${appSnapshotSettings.SNAPSHOT_TABLE_PREFIX}${suffix}']

// Names: a fixed abbreviation, a sanitized prefix of the environment name and a token unique to the
// subscription, group and environment. azd environment names may hold '_', '.', '(' and ')', which no
// resource type here accepts: they become '-'. The prefix is at most 20 characters, so every name fits its
// type's length limit (tests/infra/test_names.py checks each one for awkward environment names).
var namePrefix = take(replace(replace(replace(replace(toLower(environmentName), '_', '-'), '.', '-'), '(', '-'), ')', '-'), 20)
var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var names = {
  storage: 'st${resourceToken}'
  deploymentContainer: 'app-package-${resourceToken}'
  logAnalytics: 'log-${namePrefix}-${resourceToken}'
  applicationInsights: 'appi-${namePrefix}-${resourceToken}'
  plan: 'plan-${namePrefix}-${resourceToken}'
  functionApp: 'func-${namePrefix}-${resourceToken}'
  identity: 'id-${namePrefix}-${resourceToken}'
}
var allTags = union(tags, {
  'azd-env-name': environmentName
})
var useUserAssigned = identityType == 'UserAssigned'

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

// The default identity: created first, its roles granted (identityRoles) before the site exists.
module identity 'modules/identity.bicep' = if (useUserAssigned) {
  name: 'identity'
  params: {
    name: names.identity
    location: location
    tags: allTags
  }
}

module identityRoles 'modules/rbac.bicep' = if (useUserAssigned) {
  name: 'rbac'
  params: {
    principalId: identity!.outputs.principalId
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    deployerPrincipalId: deployerPrincipalId
    deployerPrincipalType: deployerPrincipalType
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    tags: allTags
    // azd deploy finds the app of service 'api' (azure.yaml) by this tag; only the site may carry it.
    siteTags: {
      'azd-service-name': 'api'
    }
    identityType: identityType
    userAssignedIdentityId: useUserAssigned ? identity!.outputs.id : ''
    userAssignedClientId: useUserAssigned ? identity!.outputs.clientId : ''
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    snapshotSettings: appSnapshotSettings
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
  // The app's storage and telemetry roles are in place before the host starts.
  dependsOn: [
    identityRoles
  ]
}

// The system-assigned option: its principal exists only once the site does, so the roles come after it.
module systemAssignedRoles 'modules/rbac.bicep' = if (!useUserAssigned) {
  name: 'rbac-system-assigned'
  params: {
    principalId: functionApp.outputs.systemAssignedPrincipalId
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
output functionAppPrincipalId string = useUserAssigned ? identity!.outputs.principalId : functionApp.outputs.systemAssignedPrincipalId

@description('Name of the storage account.')
output storageAccountName string = storage.outputs.name

@description('Name of the Application Insights component.')
output applicationInsightsName string = monitoring.outputs.applicationInsightsName
