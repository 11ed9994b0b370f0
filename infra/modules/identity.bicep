// The user-assigned managed identity of the function app (the default). It exists before the site, so its
// role assignments (rbac.bicep) are in place before the app starts and before the first package upload,
// as in the Flex Consumption quickstarts (Azure-Samples/functions-quickstart-python-http-azd).

@description('Name of the user-assigned identity (3-128 letters, digits, hyphens and underscores).')
@minLength(3)
@maxLength(128)
param name string

@description('Azure region of the identity.')
param location string

@description('Tags applied to the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource id of the identity.')
output id string = identity.id

@description('Object (principal) id of the identity: grant roles and Graph permissions to it.')
output principalId string = identity.properties.principalId

@description('Client id of the identity (AZURE_CLIENT_ID, AzureWebJobsStorage__clientId).')
output clientId string = identity.properties.clientId
