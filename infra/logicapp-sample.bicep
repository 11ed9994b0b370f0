// Sample Logic App (Consumption): every week, take a snapshot with the function app and wait for it.
// The HTTP action follows the asynchronous pattern (202 + Location + Retry-After) by default, so it polls
// GET /api/snapshots/{id} until the snapshot is stored (200) or failed (424): the async pattern must stay
// enabled. The Idempotency-Key (the run name) makes the action's retries return the same job.
// The app answers with ?code=<key> in Location and in the job's links, so the HTTP action's outputs hold the
// key: every action that carries the key or reads those outputs secures its inputs AND outputs in run
// history (runtimeConfiguration.secureData). The Logic App calls with a function key of its own, so that key
// can be rotated (or revoked) without touching any other caller.
// Workflow definition: logicapp-workflow.json (tests/infra/test_logicapp.py validates it).
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

var functionKeyName = name

resource functionApp 'Microsoft.Web/sites@2024-11-01' existing = {
  name: functionAppName

  resource host 'host' existing = {
    name: 'default'
  }
}

// A host-level function key of this Logic App's own, named after it; the platform generates its value.
// Rotate it alone (az functionapp keys set/delete), then redeploy this file to pass the new value.
// (https://learn.microsoft.com/azure/azure-functions/function-keys-how-to)
// Older Bicep type libraries have no schema for host keys (warning BCP081); ARM accepts the type.
#disable-next-line BCP081
resource logicAppKey 'Microsoft.Web/sites/host/functionKeys@2024-04-01' = {
  parent: functionApp::host
  name: functionKeyName
  properties: {
    name: functionKeyName
  }
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
        value: functionApp::host.listKeys().functionKeys[functionKeyName]
      }
      snapshotResources: {
        value: snapshotResources
      }
    }
  }
  // listKeys() must run after the key exists.
  dependsOn: [
    logicAppKey
  ]
}

@description('Name of the Logic App.')
output name string = workflow.name

@description('Resource id of the Logic App.')
output id string = workflow.id
