// Fleet Logic App (Consumption): every week, take a snapshot in every working tenant (a round), get the fleet's
// HTML page and send it.
//   Start_round (HTTP POST /api/fleet/rounds {resourceTypes, timeoutMinutes}; asynchronous pattern: polls the
//                202 Location until 200, when every tenant's snapshot is stored, failed or timed out)
//   -> Get_fleet_report (GET /api/fleet/report; counts in the X-Fleet-Attention/-Changed/-Quiet headers)
//   -> Should_send (sendWhenQuiet, or attention + changed > 0) -> by notifyBy:
//        outlook: Office 365 Outlook "Send an email (V2)", the page as the HTML body and the counts (attention,
//                 changed, quiet; the round's stored, failed, timed out) in the subject, through the API
//                 connection declared below. Nobody can consent for the admin: after the deployment, open the
//                 connection in the portal (API connections > office365-<name> > Edit API connection >
//                 Authorize) and sign in with the mailbox that sends; until then the action fails with 401.
//        teams:   HTTP POST of an Adaptive Card with the summary to a Teams Workflows webhook URL.
// The function key: a host key of this Logic App's own (as in logicapp-report.bicep), a SecureString workflow
// parameter; every action that sends it or reads the answers that carry it (the round's Location keeps `code`)
// secures inputs AND outputs, so it never shows in run history. The Teams webhook URL carries a signature: a
// secure parameter as well.
// Workflow definition: logicapp-fleet-workflow.json (tests/infra/test_logicapp_fleet.py validates both).
//   az deployment group create -g <rg> -f infra/logicapp-fleet.bicep \
//     -p functionAppName=<functionAppName output> notifyBy=outlook mailTo=admins@contoso.com

@description('Name of the Logic App.')
param name string = 'logic-weekly-fleet-report'

@description('Azure region of the Logic App and the API connection. Defaults to the resource group\'s region.')
param location string = resourceGroup().location

@description('Name of the function app in this resource group (the functionAppName output of main.bicep).')
param functionAppName string

@description('UTCM resource type names every tenant\'s snapshot takes; empty (the default): the fleet standard\'s types.')
param resourceTypes array = []

@description('The round\'s deadline in minutes: tenants whose snapshot is not stored by then are timed out.')
@minValue(5)
@maxValue(1440)
param timeoutMinutes int = 240

@description('Send the fleet page every week (true), or only when a tenant needs attention or changed (false).')
param sendWhenQuiet bool = true

@description('How the fleet page is sent: outlook (Office 365 Outlook connection, mail) or teams (Teams Workflows webhook).')
@allowed([
  'outlook'
  'teams'
])
param notifyBy string = 'outlook'

@description('Recipients of the fleet page when notifyBy is outlook, separated by semicolons.')
param mailTo string = ''

@description('The Teams Workflows webhook URL when notifyBy is teams ("When a Teams webhook request is received").')
@secure()
param teamsWebhookUrl string = ''

@description('Tags applied to the Logic App and the connection.')
param tags object = {}

var functionKeyName = name
var sendsMail = notifyBy == 'outlook'
var office365ApiId = subscriptionResourceId('Microsoft.Web/locations/managedApis', location, 'office365')

resource functionApp 'Microsoft.Web/sites@2024-11-01' existing = {
  name: functionAppName

  resource host 'host' existing = {
    name: 'default'
  }
}

// A host-level function key of this Logic App's own; the platform generates its value.
// (https://learn.microsoft.com/azure/azure-functions/function-keys-how-to)
#disable-next-line BCP081
resource logicAppKey 'Microsoft.Web/sites/host/functionKeys@2024-04-01' = {
  parent: functionApp::host
  name: functionKeyName
  properties: {
    name: functionKeyName
  }
}

// The Office 365 Outlook API connection, created unauthorised: an admin consents in the portal (see above).
resource outlook 'Microsoft.Web/connections@2016-06-01' = if (sendsMail) {
  name: 'office365-${name}'
  location: location
  tags: tags
  properties: {
    displayName: 'Office 365 Outlook (${name})'
    api: {
      id: office365ApiId
    }
  }
}

// The workflow's $connections parameter when it sends by mail (the Outlook action's host.connection.name).
var outlookConnections = {
  office365: {
    connectionId: outlook.id
    connectionName: outlook.name
    id: office365ApiId
  }
}

resource workflow 'Microsoft.Logic/workflows@2019-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    state: 'Enabled'
    definition: loadJsonContent('logicapp-fleet-workflow.json')
    parameters: {
      functionHost: {
        value: functionApp.properties.defaultHostName
      }
      functionKey: {
        value: functionApp::host.listKeys().functionKeys[functionKeyName]
      }
      resourceTypes: {
        value: resourceTypes
      }
      timeoutMinutes: {
        value: timeoutMinutes
      }
      sendWhenQuiet: {
        value: sendWhenQuiet
      }
      notifyBy: {
        value: notifyBy
      }
      mailTo: {
        value: mailTo
      }
      teamsWebhookUrl: {
        value: teamsWebhookUrl
      }
      '$connections': {
        value: sendsMail ? outlookConnections : {}
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

@description('Name of the Office 365 Outlook connection to authorise (empty when notifyBy is teams).')
output outlookConnectionName string = sendsMail ? 'office365-${name}' : ''
