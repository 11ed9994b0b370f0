// Tenant snapshot service: everything the function app needs, in one resource group.
//   az deployment group create -g <rg> -f infra/main.bicep -p infra/main.bicepparam    (or: azd provision)
// Microsoft Graph permissions are a separate deployment (graph-permissions.bicep): they need an Entra admin.
// Hand-written resources only (no registry modules). tenancy=multi adds modules/app-registration.bicep, which uses
// the Microsoft Graph extension: building this file restores it from mcr.microsoft.com (infra/bicepconfig.json).
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

// multi needs identityType=UserAssigned: the app registration's federated credential names the identity's object
// id, which must exist before the registration does and outlive the site. The deployment fails with a message
// otherwise (appTenancy below), rather than deploying an app that cannot reach any customer tenant.
@description('single (default): the app reads its own tenant only. multi: also customer tenants, through a multi-tenant app registration (modules/app-registration.bicep) whose only credential is the user-assigned identity; needs identityType=UserAssigned and a deployer who can create app registrations (infra/README.md, "Deploying with tenancy=multi"). main.bicepparam reads SNAPSHOT_TENANCY.')
@allowed([
  'single'
  'multi'
])
param tenancy string = 'single'

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
// SNAPSHOT_AUTHORITY_CA_FILE makes the app trust one local certificate (the emulator's) for Entra: in Azure every
// token request would fail, so an override naming it stops the deployment instead.
var appSnapshotSettings = contains(snapshotSettings, 'SNAPSHOT_AUTHORITY_CA_FILE') ? fail('SNAPSHOT_AUTHORITY_CA_FILE is for local runs against the emulator only: remove it from snapshotSettings.') : union(snapshotSettingDefaults, snapshotSettings)

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
  'Fleet'
]
var snapshotTableNames = [for suffix in snapshotTableSuffixes: '${appSnapshotSettings.SNAPSHOT_TABLE_PREFIX}${suffix}']

// The fan-out queues of snapshot/queues.py (POLL_QUEUE, DRIFTS_QUEUE) and their poison queues (POISON_SUFFIX).
// The Functions host would create a poison queue on the first failure, but created here they exist before
// that: the least-privilege queue roles (rbac.bicep: no Create Queue) suffice, and monitoring can watch them.
var snapshotQueueNames = [
  'snapshot-poll'
  'snapshot-drifts'
  'snapshot-poll-poison'
  'snapshot-drifts-poison'
]

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
  appRegistration: 'app-${namePrefix}-${resourceToken}'
}
var allTags = union(tags, {
  'azd-env-name': environmentName
})
var useUserAssigned = identityType == 'UserAssigned'
var multiTenant = tenancy == 'multi'
// The app registration exists only for tenancy=multi with the user-assigned identity (its credential).
var deployAppRegistration = multiTenant && useUserAssigned
// What the app is told (SNAPSHOT_TENANCY): multi with a system-assigned identity stops the deployment here.
var appTenancy = (multiTenant && !useUserAssigned) ? fail('tenancy=multi needs identityType=UserAssigned: the app registration\'s federated credential is the user-assigned identity.') : tenancy

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: names.storage
    location: location
    tags: allTags
    deploymentContainerName: names.deploymentContainer
    tableNames: snapshotTableNames
    queueNames: snapshotQueueNames
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

// tenancy=multi: the multi-tenant app registration, its federated credential (the identity) and its home service
// principal. Graph calls on the deployer's behalf (infra/README.md, "Deploying with tenancy=multi").
module appRegistration 'modules/app-registration.bicep' = if (deployAppRegistration) {
  name: 'app-registration'
  params: {
    uniqueName: names.appRegistration
    displayName: 'Tenant snapshot (${environmentName})'
    managedIdentityPrincipalId: identity!.outputs.principalId
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
    tenancy: appTenancy
    appClientId: deployAppRegistration ? appRegistration!.outputs.appClientId : ''
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

@description('Application (client) id of the multi-tenant app registration (tenancy=multi): the client_id of each customer tenant\'s admin consent URL. Empty for single.')
output appClientId string = deployAppRegistration ? appRegistration!.outputs.appClientId : ''

@description('Name of the storage account.')
output storageAccountName string = storage.outputs.name

@description('Name of the Application Insights component.')
output applicationInsightsName string = monitoring.outputs.applicationInsightsName
