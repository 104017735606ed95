export default function AdminApp() {
  return <main><h1>livevote admin</h1></main>;
}
