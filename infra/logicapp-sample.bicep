// Sample Logic App (Consumption): every week, take a snapshot with the function app and wait for it.
// The HTTP action follows the asynchronous pattern (202 + Location + Retry-After) by default, so it polls
// GET /api/snapshots/{id} until the snapshot is stored (200) or failed (424): the async pattern must stay
// enabled. The Idempotency-Key (the run name) makes the action's retries return the same job.
// Workflow definition: logicapp-workflow.json (tests/test_infra.py validates it).
//   az deployment group create -g <rg> -f infra/logicapp-sample.bicep -p functionAppName=<functionAppName output>

@description('Name of the Logic App.')
param name string = 'logic-weekly-snapshot'

@description('Azure region of the Logic App. Defaults to the resource group\'s region.')
param location string = resourceGroup().location

@description('Name of the function app in this resource group (the functionAppName output of main.bicep).')
param functionAppName string

@description('UTCM resource type names to snapshot every week (letters only as documented; see /api/resource-types).')
param snapshotResources array = [
  'microsoft.entra.conditionalAccessPolicy'
  'microsoft.entra.authenticationMethodPolicy'
  'microsoft.entra.authorizationPolicy'
  'microsoft.entra.namedLocationPolicy'
]

@description('Tags applied to the Logic App.')
param tags object = {}

resource functionApp 'Microsoft.Web/sites@2024-11-01' existing = {
  name: functionAppName
}

resource workflow 'Microsoft.Logic/workflows@2019-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    state: 'Enabled'
    definition: loadJsonContent('logicapp-workflow.json')
    parameters: {
      functionHost: {
        value: functionApp.properties.defaultHostName
      }
      // A SecureString workflow parameter: not shown in the run history or returned by GET.
      functionKey: {
        value: listKeys(resourceId('Microsoft.Web/sites/host', functionAppName, 'default'), '2023-12-01').functionKeys.default
      }
      snapshotResources: {
        value: snapshotResources
      }
    }
  }
}

@description('Name of the Logic App.')
output name string = workflow.name

@description('Resource id of the Logic App.')
output id string = workflow.id
