// Log Analytics workspace + workspace-based Application Insights with local (key) authentication
// disabled: telemetry is accepted only with an Entra token (the app's identity needs
// Monitoring Metrics Publisher, granted in rbac.bicep).

@description('Name of the Log Analytics workspace.')
param logAnalyticsName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Azure region of the monitoring resources.')
param location string

@description('Tags applied to the monitoring resources.')
param tags object = {}

@description('Days the Log Analytics workspace keeps data.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

@description('Name of the Application Insights component.')
output applicationInsightsName string = applicationInsights.name

@description('Resource id of the Application Insights component.')
output applicationInsightsId string = applicationInsights.id

@description('Connection string of Application Insights (not a secret: ingestion needs an Entra token).')
output applicationInsightsConnectionString string = applicationInsights.properties.ConnectionString

@description('Resource id of the Log Analytics workspace.')
output logAnalyticsId string = logAnalytics.id
