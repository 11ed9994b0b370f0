// The function app: Flex Consumption (FC1) plan, Linux, Python 3.11, code package in a blob container
// reached with the app's managed identity, identity-based host storage, App Insights with Entra auth.
// Flex Consumption forbids FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE,
// WEBSITE_CONTENT*, ... as app settings, and lists site properties it does not support (ftpsState, alwaysOn,
// use32BitWorkerProcess, linuxFxVersion, ...): none of them is set here. Source:
// https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations

@description('Name of the function app (globally unique: it is the host name).')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region of the plan and the app.')
param location string

@description('Tags applied to the plan and the app.')
param tags object = {}

@description('Tags applied to the app only: azd finds the app to deploy by azd-service-name, which must be on one resource.')
param siteTags object = {}

@description('UserAssigned (default: the identity of identity.bicep, whose roles exist before the site) or SystemAssigned.')
@allowed([
  'UserAssigned'
  'SystemAssigned'
])
param identityType string = 'UserAssigned'

@description('Resource id of the user-assigned identity (identity.bicep); unused for SystemAssigned.')
param userAssignedIdentityId string = ''

@description('Client id of the user-assigned identity; unused for SystemAssigned.')
param userAssignedClientId string = ''

@description('Blob endpoint of the storage account (https://<account>.blob.<suffix>/).')
param blobEndpoint string

@description('Queue endpoint of the storage account.')
param queueEndpoint string

@description('Table endpoint of the storage account.')
param tableEndpoint string

@description('Blob container that holds the deployment package.')
param deploymentContainerName string

@description('Application Insights connection string.')
param applicationInsightsConnectionString string

@description('The app settings snapshot/settings.py reads (SETTING_NAMES), by name; values are strings.')
param snapshotSettings object

@description('single or multi (SNAPSHOT_TENANCY): main.bicep\'s tenancy parameter.')
@allowed([
  'single'
  'multi'
])
param tenancy string = 'single'

@description('Application (client) id of the multi-tenant app registration (SNAPSHOT_APP_CLIENT_ID); empty for single.')
param appClientId string = ''

@description('Most instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

var useUserAssigned = identityType == 'UserAssigned'

// Host storage by identity: no connection string, no key. The queue triggers and snapshot/queues.py use the
// same connection (AzureWebJobsStorage): __queueServiceUri is their endpoint, reached with the identity.
var hostStorageSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__blobServiceUri: blobEndpoint
  AzureWebJobsStorage__queueServiceUri: queueEndpoint
  AzureWebJobsStorage__tableServiceUri: tableEndpoint
}

// App Insights with local auth disabled: the SDK sends an Entra token of the app's identity.
var monitoringSettings = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: useUserAssigned ? 'ClientId=${userAssignedClientId};Authorization=AAD' : 'Authorization=AAD'
}

// Only for a user-assigned identity: which identity azure-identity and the host use.
var userAssignedSettings = useUserAssigned ? {
  AZURE_CLIENT_ID: userAssignedClientId
  AzureWebJobsStorage__clientId: userAssignedClientId
} : {}

// Tenancy, from the deployment itself: the home tenant is the one deployed to, the client id that of the app
// registration this deployment made. Merged last, so snapshotSettings cannot contradict the infrastructure (e.g.
// SNAPSHOT_TENANCY=multi with no app registration). SNAPSHOT_AUTHORITY_HOST and SNAPSHOT_TOKEN_EXCHANGE_AUDIENCE
// keep settings.py's defaults (the public cloud's, which the federated credential uses);
// SNAPSHOT_AUTHORITY_CA_FILE is for local runs against the emulator only and is never set in Azure.
var tenancySettings = {
  SNAPSHOT_TENANCY: tenancy
  SNAPSHOT_HOME_TENANT_ID: tenant().tenantId
  SNAPSHOT_APP_CLIENT_ID: appClientId
}

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-11-01' = {
  name: name
  location: location
  tags: union(tags, siteTags)
  kind: 'functionapp,linux'
  identity: useUserAssigned ? {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${userAssignedIdentityId}': {}
    }
  } : {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: useUserAssigned ? {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: userAssignedIdentityId
          } : {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

resource appSettings 'Microsoft.Web/sites/config@2024-11-01' = {
  parent: site
  name: 'appsettings'
  properties: union(hostStorageSettings, monitoringSettings, userAssignedSettings, snapshotSettings, tenancySettings)
}

// Deployments authenticate with Entra ID (azd, func, az functionapp deployment): no FTP/SCM passwords.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

@description('Name of the function app.')
output name string = site.name

@description('Default host name of the function app.')
output defaultHostName string = site.properties.defaultHostName

@description('Object (principal) id of the system-assigned identity; empty for a user-assigned one (identity.bicep has it).')
output systemAssignedPrincipalId string = useUserAssigned ? '' : site.identity.principalId
